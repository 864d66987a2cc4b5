# flue.m4 -- find flue from an out-of-tree plugin's configure.ac.
#
#   FLUE_PLUGIN([MIN-VERSION])
#
# Checks with pkg-config that flue (at least MIN-VERSION, default 0.1.0)
# is installed, and sets:
#   FLUE_CFLAGS    the flags to compile a plugin with (<flue/plugin.h>)
#   flueplugindir  where flue looks for installed plugins; --with-flue-
#                  plugindir=DIR overrides it (e.g. a project's
#                  .flue/plugins)
# so that Makefile.am can say:
#   flueplugin_LTLIBRARIES = myplugin.la
#   myplugin_la_CFLAGS = $(FLUE_CFLAGS)
#   myplugin_la_LDFLAGS = -module -avoid-version -shared \
#       -export-symbols-regex '^flue_plugin_entry$$'
AC_DEFUN([FLUE_PLUGIN], [
	PKG_CHECK_MODULES([FLUE], [flue >= m4_default([$1], [0.1.0])], [],
		[AC_MSG_ERROR([flue m4_default([$1], [0.1.0]) or newer was not found by pkg-config: install flue (make install) or set PKG_CONFIG_PATH to the folder holding flue.pc])])
	AC_ARG_WITH([flue-plugindir],
		[AS_HELP_STRING([--with-flue-plugindir=DIR],
			[install the plugin in DIR (default: flue's plugin folder)])],
		[flueplugindir=$withval],
		[flueplugindir=`$PKG_CONFIG --variable=plugindir flue`])
	AC_SUBST([flueplugindir])
])

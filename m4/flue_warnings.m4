# AX_CHECK_FLAGS_WARN: the warning flags flue builds with, kept in
# WARN_CFLAGS.  -Werror is left to the user (CFLAGS=-Werror) so a newer
# compiler's new warning never breaks a release build.
AC_DEFUN([AX_CHECK_FLAGS_WARN], [
  WARN_CFLAGS="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter"
  AC_SUBST([WARN_CFLAGS])
])

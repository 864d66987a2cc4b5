/* <flue/flue.h> compiles alone as strict C99 (the build uses
 * -std=c99 -Wall -Wextra -pedantic -Werror for this file). */
#include <flue/flue.h>

int
main(void)
{
	struct flue_plugin descriptor = {0};

	/* The ABI guard fields lead the descriptor. */
	return (int)descriptor.abi_major + (FLUE_PLUGIN_SIZE_1_0 > 0 ? 0 : 1);
}

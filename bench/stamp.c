/* stamp: print the wall clock (microseconds since the epoch) on stderr,
 * then exec the command, so a benchmark can tell how long after its start
 * a process did something (the fake gateway stamps requests with the same
 * clock).  Usage: stamp COMMAND [ARGS...] */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec ts;

	if (argc < 2) {
		fprintf(stderr, "usage: stamp COMMAND [ARGS...]\n");
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "stamp %lld\n",
	        (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}

/* timecmd: run a command N times and print the median, minimum and
 * maximum wall time in milliseconds.  Output of the command is
 * discarded.  Usage: timecmd N COMMAND [ARGS...] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[1]) : 0;
	double *times;

	if (runs <= 0) {
		fprintf(stderr, "usage: timecmd N COMMAND [ARGS...]\n");
		return 2;
	}
	times = calloc((size_t)runs, sizeof(*times));
	if (times == NULL)
		return 1;
	for (int i = 0; i < runs; i++) {
		double start = now_ms();
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			dup2(null, 2);
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		waitpid(pid, &status, 0);
		times[i] = now_ms() - start;
		if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
			fprintf(stderr, "timecmd: %s failed\n", argv[2]);
			return 1;
		}
	}
	qsort(times, (size_t)runs, sizeof(*times), cmp_double);
	printf("runs=%d median=%.2fms min=%.2fms max=%.2fms\n", runs,
	       runs % 2 ? times[runs / 2] :
	       (times[runs / 2 - 1] + times[runs / 2]) / 2, times[0],
	       times[runs - 1]);
	free(times);
	return 0;
}

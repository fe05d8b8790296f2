/* SPDX-License-Identifier: MIT */
/*
 * lab_expect_fail: runs a lab checker that is expected to fail, and passes
 * only when it fails for the expected reason.
 *
 *   lab_expect_fail <reason> <checker> [args...]
 *
 * The checker's output (stdout and stderr, merged) is passed through. The
 * run counts as the expected failure when the checker exited with status 1
 * and its output contains the line "lab check failed: ..." with <reason>
 * in it. Anything else fails: a pass (the starter was solved, or the
 * checker checks nothing), a crash, a sanitizer's report (its own exit
 * status), a hang cut short by ctest, or a failure for another reason. A
 * skip (status 77) is passed on as a skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEEP (1 << 20) /* bytes of output kept to look for the reason */

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s <reason> <checker> [args...]\n",
			argv[0]);
		return 2;
	}
	const char *reason = argv[1];
	int fds[2];
	if (pipe(fds) != 0) {
		perror("pipe");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[2], argv + 2);
		fprintf(stderr, "lab_expect_fail: cannot run %s: %s\n", argv[2],
			strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	static char out[KEEP + 1];
	size_t have = 0;
	char buf[4096];
	for (;;) {
		ssize_t n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		size_t keep = (size_t)n < KEEP - have ? (size_t)n : KEEP - have;
		memcpy(out + have, buf, keep);
		have += keep;
	}
	out[have] = '\0';
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			return 2;
		}
	fflush(stdout);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		printf("lab_expect_fail: the checker skipped\n");
		return 77;
	}
	if (WIFSIGNALED(status)) {
		printf("lab_expect_fail: NOT the expected failure: the checker "
		       "died of signal %d (%s)\n",
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
		return 1;
	}
	int code = WEXITSTATUS(status);
	if (code == 0) {
		printf("lab_expect_fail: NOT the expected failure: the checker "
		       "passed (solved this lab? configure with "
		       "-DSPOOL_LABS_SOLVING=ON to expect a pass)\n");
		return 1;
	}
	const char *line = strstr(out, "lab check failed: ");
	const char *eol = line ? strchr(line, '\n') : NULL;
	const char *hit = line ? strstr(line, reason) : NULL;
	if (code != 1 || !line || !hit || (eol && hit > eol)) {
		printf("lab_expect_fail: NOT the expected failure: exit status "
		       "%d, expected 1 with \"%s\" in the verdict line\n",
		       code, reason);
		return 1;
	}
	printf("lab_expect_fail: the starter fails as it should (\"%s\")\n",
	       reason);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Part 3: runs compare/python/compare.py with real CPython and reads back
 * its JSON lines. The script gets the same task count, worker count, seed
 * and IO delays as Part 2, and the ports of this program's own delay
 * servers, so CPython's clients talk to a server that does not share
 * their GIL. Its CPU sizes are smaller (pure Python is far slower), which
 * is why the table compares ratios, never times.
 *
 * It also gets the GIL model's switch interval, which it sets with
 * sys.setswitchinterval(), and the convoy's sizes.
 *
 * The child is bounded: it is killed when the time limit passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compare.h"

#ifndef CMP_PYTHON_DIR
#define CMP_PYTHON_DIR "compare/python"
#endif

/* An executable python3 on PATH (or the usual places); NULL if none. */
static const char *find_python(char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/local/bin",
		 path ? path : "");
	for (char *save, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/python3", d);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

/* The value of "key": in one JSON line, as a string (quotes removed) or a
 * number's text; false if absent. Enough for the flat lines compare.py
 * writes. */
static bool json_field(const char *line, const char *key, char *out, size_t len)
{
	char pat[48];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	size_t n = 0;
	if (*p == '"') {
		p++;
		while (p[n] && p[n] != '"')
			n++;
	} else {
		while (p[n] && p[n] != ',' && p[n] != '}')
			n++;
	}
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = 0;
	return true;
}

static double json_num(const char *line, const char *key)
{
	char v[48];
	return json_field(line, key, v, sizeof(v)) ? strtod(v, NULL) : 0;
}

static int parse_line(const char *line, struct cmp_py_result *r)
{
	char bench[32];
	memset(r, 0, sizeof(*r));
	if (!json_field(line, "bench", bench, sizeof(bench)) ||
	    strncmp(bench, "lesson_", 7) != 0)
		return -1;
	snprintf(r->workload, sizeof(r->workload), "%.15s", bench + 7);
	json_field(line, "backend", r->backend, sizeof(r->backend));
	json_field(line, "skipped", r->skipped, sizeof(r->skipped));
	json_field(line, "error", r->skipped, sizeof(r->skipped));
	r->tasks = (int)json_num(line, "tasks");
	r->threads = (int)json_num(line, "threads");
	r->runs = (int)json_num(line, "runs");
	r->n = json_num(line, "n");
	r->wall_s = json_num(line, "median_s");
	r->cpu_s = json_num(line, "cpu_s");
	r->speedup = json_num(line, "speedup");
	r->p50_ms = json_num(line, "p50_ms");
	r->p99_ms = json_num(line, "p99_ms");
	r->cpu_threads = (int)json_num(line, "cpu_threads");
	r->factor = json_num(line, "factor");
	return 0;
}

int cmp_python_run(const struct cmp_config *cfg, struct cmp_py_result *res,
		   int max, char *why, size_t why_len)
{
	char pybuf[512], script[1024];
	const char *py = cfg->python;
	if (py && !*py) {
		snprintf(why, why_len, "disabled by --no-python");
		return -1;
	}
	if (!py && !(py = find_python(pybuf, sizeof(pybuf)))) {
		snprintf(why, why_len, "python3 not found on PATH");
		return -1;
	}
	const char *dir = cfg->python_dir ? cfg->python_dir : CMP_PYTHON_DIR;
	snprintf(script, sizeof(script), "%s/compare.py", dir);
	if (access(script, R_OK) != 0) {
		snprintf(why, why_len, "%s not found", script);
		return -1;
	}
	uint16_t port, mport;
	if (cmp_servers_ports(cfg, &port, &mport, why, why_len))
		return -1;

	char wl[128] = "";
	for (int w = 0; w < CMP_W_COUNT; w++) {
		if (!(cfg->workloads & (1u << w)))
			continue;
		if (wl[0])
			strcat(wl, ",");
		strcat(wl, cmp_workload_name(w));
	}
	char a_tasks[16], a_threads[16], a_seed[32], a_runs[16], a_delay[32],
		a_req[16], a_mdelay[32], a_port[16], a_mport[16], a_si[32],
		a_rt[16], a_cpus[16], a_gap[32];
	snprintf(a_tasks, sizeof(a_tasks), "%d", cfg->tasks);
	snprintf(a_threads, sizeof(a_threads), "%d", cfg->threads);
	snprintf(a_seed, sizeof(a_seed), "%llu", (unsigned long long)cfg->seed);
	/* Python sizes stay small: at most 3 runs. */
	snprintf(a_runs, sizeof(a_runs), "%d", cfg->runs < 3 ? cfg->runs : 3);
	snprintf(a_delay, sizeof(a_delay), "%.3f", (double)cfg->delay_ns / 1e6);
	snprintf(a_req, sizeof(a_req), "%d", cfg->mixed_requests);
	snprintf(a_mdelay, sizeof(a_mdelay), "%.3f",
		 (double)cfg->mixed_delay_ns / 1e6);
	snprintf(a_port, sizeof(a_port), "%u", port);
	snprintf(a_mport, sizeof(a_mport), "%u", mport);
	snprintf(a_si, sizeof(a_si), "%.3f",
		 (double)cfg->switch_interval_ns / 1e6);
	snprintf(a_rt, sizeof(a_rt), "%d", cfg->round_trips);
	snprintf(a_cpus, sizeof(a_cpus), "%d", cfg->convoy_cpus);
	snprintf(a_gap, sizeof(a_gap), "%.3f", (double)CMP_CONVOY_GAP_NS / 1e6);
	char *argv[] = {(char *)py,
			script,
			"--workload",
			wl,
			"--tasks",
			a_tasks,
			"--threads",
			a_threads,
			"--seed",
			a_seed,
			"--runs",
			a_runs,
			"--delay-ms",
			a_delay,
			"--requests",
			a_req,
			"--mixed-delay-ms",
			a_mdelay,
			"--port",
			a_port,
			"--mixed-port",
			a_mport,
			"--switch-interval-ms",
			a_si,
			"--round-trips",
			a_rt,
			"--cpu-threads",
			a_cpus,
			"--gap-ms",
			a_gap,
			NULL};

	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(why, why_len, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, why_len, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execv(py, argv);
		_exit(127);
	}
	close(fds[1]);

	/* Read everything, within the time limit. */
	double limit_s = cfg->time_limit_s < 120 ? cfg->time_limit_s : 120;
	int64_t deadline = cmp_now_ns() + (int64_t)(limit_s * 1e9);
	size_t cap = 1 << 16, len = 0;
	char *text = malloc(cap);
	bool timed_out = false;
	while (text) {
		int64_t left = deadline - cmp_now_ns();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd p = {fds[0], POLLIN, 0};
		int pr = poll(&p, 1, (int)(left / 1000000 + 1));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		if (len + 4096 > cap) {
			char *t = realloc(text, cap * 2);
			if (!t)
				break;
			text = t;
			cap *= 2;
		}
		ssize_t n = read(fds[0], text + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!text) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	text[len] = 0;
	if (timed_out) {
		snprintf(why, why_len, "%s did not finish in %.0f s", script,
			 limit_s);
		free(text);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(why, why_len, "%s %s (status %d)", py,
			 WIFEXITED(status) && WEXITSTATUS(status) == 127
				 ? "could not be run"
				 : "failed",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		free(text);
		return -1;
	}
	int count = 0;
	for (char *save, *line = strtok_r(text, "\n", &save);
	     line && count < max; line = strtok_r(NULL, "\n", &save))
		if (parse_line(line, &res[count]) == 0)
			count++;
	free(text);
	if (count == 0) {
		snprintf(why, why_len, "%s printed no results", script);
		return -1;
	}
	return count;
}

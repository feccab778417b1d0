/* l_sys.c — the few operating-system helpers the CLI needs that stock Lua
 * lacks: nn.isatty, nn.term_width, nn.now (a monotonic clock), nn.mkdir, nn.listdir,
 * nn.write_file (atomic), nn.lock_dir (run directories);
 * for sweeps (scripts/nnrun/sweep.lua), child processes: nn.exe_path,
 * nn.cpu_count, nn.spawn, nn.wait, nn.kill and nn.trap_signals. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "lnnrun.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* nn.isatty([fd = 1]) -> boolean */
static int l_isatty(lua_State *L) {
    lua_Integer fd = luaL_optinteger(L, 1, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 1024, 1, "not a file descriptor");
    lua_pushboolean(L, isatty((int)fd));
    return 1;
}

/* nn.term_width([fd = 1]) -> the columns of the terminal on fd, or nil
 * when fd is not a terminal (or its size is unknown). */
static int l_term_width(lua_State *L) {
    lua_Integer fd = luaL_optinteger(L, 1, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 1024, 1, "not a file descriptor");
    struct winsize ws;
    if (ioctl((int)fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        lua_pushinteger(L, ws.ws_col);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

/* nn.now() -> seconds of a monotonic clock (for durations only). */
static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* nn.mkdir(path) -> true | nil, message: creates one directory; an existing
 * directory is success. */
static int l_mkdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    nnl_check_write(L, path, 1);
    struct stat st;
    if (mkdir(path, 0777) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    return 2;
}

/* nn.listdir(path) -> list of the entry names (without . and ..), unsorted;
 * nil, message if the directory cannot be read. */
static int l_listdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_newtable(L);
    DIR *d = opendir(path);
    if (d == NULL) {
        int e = errno;
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(e));
        return 2;
    }
    lua_Integer n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
            continue;
        }
        lua_pushstring(L, ent->d_name); /* memory errors here would leak d: */
        lua_rawseti(L, -2, ++n);        /* acceptable for a CLI helper     */
    }
    closedir(d);
    return 1;
}

/* nn.write_file(path, text) -> true | nil, message: replaces the file at
 * path with text atomically (nn_file_write_atomic: unique temporary name,
 * fsync, rename, fsync of the directory); the message names the file. */
static int l_write_file(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    nnl_check_write(L, path, 0);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    if (nn_file_write_atomic(path, text, len) != NN_OK) {
        lua_pushnil(L);
        lua_pushstring(L, nn_last_error());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

#define LOCK_NAME ".lock"

/* The pid written in a lock file, 0 if none. */
static long read_pid(int fd) {
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    return pid > 0 && (*end == '\n' || *end == '\0') ? pid : 0;
}

/* nn.lock_dir(dir [, claim = true]) -> true | nil, message, holder pid
 * Takes an exclusive lock on dir (flock of dir/.lock, created if missing)
 * for the rest of the process's life: a second process asking for it is
 * refused at once, told the holder's pid (false when the holder has not
 * claimed it yet; the holder is nil when the failure is not a lock held).  The lock dies with the process however it ends (kill -9
 * too) and is not inherited by spawned children.  claim: write this
 * process's pid into the lock file and remove the temporary files a killed
 * writer left in dir (nn_file_remove_stale_temps, the previous holder
 * counting as gone); with claim false the lock is taken and dir is left
 * exactly as it was (to check it before writing anything).  Locking dir
 * again in the same process only claims it (when asked). */
static int l_lock_dir(lua_State *L) {
    const char *dir = luaL_checkstring(L, 1);
    nnl_check_write(L, dir, 0);
    int claim = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
    lua_settop(L, 2);
    const char *path = lua_pushfstring(L, "%s/" LOCK_NAME, dir); /* 3 */
    /* The registry maps the directories this process holds to their fd. */
    if (lua_getfield(L, LUA_REGISTRYINDEX, "nnrun.locks") == LUA_TNIL) { /* 4 */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "nnrun.locks");
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        lua_pushnil(L);
        lua_pushfstring(L, "%s: cannot lock: %s", path, strerror(e));
        return 2;
    }
    lua_pushfstring(L, "%I:%I", (lua_Integer)st.st_dev, (lua_Integer)st.st_ino); /* 5 */
    if (lua_rawget(L, 4) == LUA_TNUMBER) {
        close(fd); /* held already: keep the descriptor that holds it */
        fd = (int)lua_tointeger(L, -1);
    } else {
        int r;
        while ((r = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
        }
        if (r != 0) {
            int e = errno;
            long holder = e == EWOULDBLOCK ? read_pid(fd) : 0;
            close(fd);
            lua_pushnil(L);
            if (e != EWOULDBLOCK) {
                lua_pushfstring(L, "%s: cannot lock: %s", path, strerror(e));
                return 2;
            }
            if (holder > 0) {
                lua_pushfstring(L, "%s is in use by another run (pid %I)", dir, (lua_Integer)holder);
                lua_pushinteger(L, holder);
            } else {
                lua_pushfstring(L, "%s is in use by another run", dir);
                lua_pushboolean(L, 0);
            }
            return 3;
        }
        lua_pushfstring(L, "%I:%I", (lua_Integer)st.st_dev, (lua_Integer)st.st_ino);
        lua_pushinteger(L, fd);
        lua_rawset(L, 4);
    }
    long previous = read_pid(fd), self = (long)getpid();
    if (claim && previous != self) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%ld\n", self);
        if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
            int e = errno;
            lua_pushnil(L);
            lua_pushfstring(L, "%s: cannot write: %s", path, strerror(e));
            return 2;
        }
        nn_file_remove_stale_temps(dir, previous);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* nn.exe_path() -> the resolved path of the running executable (Linux
 * /proc/self/exe), or nil if it cannot be known. */
static int l_exe_path(lua_State *L) {
    char buf[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (len <= 0) {
        lua_pushnil(L);
        return 1;
    }
    buf[len] = '\0';
    lua_pushstring(L, buf);
    return 1;
}

/* nn.cpu_count() -> the CPUs this process may run on (its affinity mask,
 * which Slurm and taskset restrict), at least 1. */
static int l_cpu_count(lua_State *L) {
    long n = 0;
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        n = CPU_COUNT(&set);
    }
#endif
    if (n <= 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
    }
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

#define SPAWN_MAX_ARGS 256

/* nn.spawn(argv [, log]) -> pid | nil, message
 * Starts argv[1] (a path, not searched in PATH) with arguments argv[2..]
 * and this process's environment; with log, the child's stdout and stderr
 * go to that file (created or truncated).  Reap it with nn.wait. */
static int l_spawn(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *log = luaL_optstring(L, 2, NULL);
    lua_Integer n = luaL_len(L, 1);
    luaL_argcheck(L, n >= 1 && n < SPAWN_MAX_ARGS, 1, "expected 1 to 255 strings");
    const char *argv[SPAWN_MAX_ARGS];
    for (lua_Integer i = 1; i <= n; i++) {
        /* The string stays referenced by the table while we run. */
        if (lua_rawgeti(L, 1, i) != LUA_TSTRING) {
            return luaL_argerror(L, 1, lua_pushfstring(L, "item %d is not a string", (int)i));
        }
        argv[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int err = posix_spawn_file_actions_init(&fa);
    if (err != 0) {
        goto fail;
    }
    err = posix_spawnattr_init(&attr);
    if (err != 0) {
        posix_spawn_file_actions_destroy(&fa);
        goto fail;
    }
    /* The child starts with default SIGINT/SIGTERM and nothing blocked,
       whatever this process has set up. */
    sigset_t def, none;
    sigemptyset(&def);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigemptyset(&none);
    err = posix_spawnattr_setsigdefault(&attr, &def);
    if (err == 0) {
        err = posix_spawnattr_setsigmask(&attr, &none);
    }
    if (err == 0) {
        err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    }
    if (err == 0 && log != NULL) {
        err = posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (err == 0) {
            err = posix_spawn_file_actions_adddup2(&fa, 1, 2);
        }
    }
    pid_t pid = 0;
    if (err == 0) {
        err = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (err == 0) {
        lua_pushinteger(L, pid);
        return 1;
    }
fail:
    lua_pushnil(L);
    lua_pushfstring(L, "cannot start %s: %s", argv[0], strerror(err));
    return 2;
}

static volatile sig_atomic_t caught_signal = 0;
/* The first trapped signal, kept (nn.wait clears caught_signal when it
 * reports it): training polls it at batch boundaries to stop cleanly. */
static volatile sig_atomic_t interrupt_signal = 0;

static void on_signal(int sig) {
    caught_signal = sig;
    if (!interrupt_signal)
        interrupt_signal = sig;
}

int nnl_interrupt_signal(void) {
    return interrupt_signal;
}

/* nn.trap_signals() -> true: from now on SIGINT and SIGTERM only set a flag
 * that nn.wait reports, so the caller can stop its children first. */
static int l_trap_signals(lua_State *L) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static const char *signal_name(int sig) {
    switch (sig) {
    case SIGINT: return "INT";
    case SIGTERM: return "TERM";
    case SIGKILL: return "KILL";
    case SIGSEGV: return "SEGV";
    case SIGABRT: return "ABRT";
    case SIGBUS: return "BUS";
    case SIGFPE: return "FPE";
    case SIGHUP: return "HUP";
    default: return NULL;
    }
}

static void push_signal(lua_State *L, int sig) {
    const char *name = signal_name(sig);
    if (name) {
        lua_pushstring(L, name);
    } else {
        lua_pushfstring(L, "%d", sig);
    }
}

/* nn.wait([timeout = -1]) -> pid, "exit", code | pid, "signal", name
 *                          | nil, "timeout" | nil, "signal", name
 *                          | nil, "none" (no child left)
 * Reaps any one child.  Waits at most timeout seconds (< 0: no limit),
 * returning early when a signal trapped by nn.trap_signals arrives (its
 * name: "INT", "TERM"; the flag is cleared).  Polls every 10 ms. */
static int l_wait(lua_State *L) {
    lua_Number timeout = luaL_optnumber(L, 1, -1);
    luaL_argcheck(L, timeout == timeout, 1, "timeout is NaN");
    struct timespec start, now, tick = {0, 10 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int st = 0;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            lua_pushinteger(L, pid);
            if (WIFSIGNALED(st)) {
                lua_pushliteral(L, "signal");
                push_signal(L, WTERMSIG(st));
            } else {
                lua_pushliteral(L, "exit");
                lua_pushinteger(L, WIFEXITED(st) ? WEXITSTATUS(st) : 1);
            }
            return 3;
        }
        if (pid < 0 && errno == ECHILD) {
            lua_pushnil(L);
            lua_pushliteral(L, "none");
            return 2;
        }
        if (caught_signal != 0) {
            int sig = caught_signal;
            caught_signal = 0;
            lua_pushnil(L);
            lua_pushliteral(L, "signal");
            push_signal(L, sig);
            return 3;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) * 1e-9;
        if (timeout >= 0 && waited >= timeout) {
            lua_pushnil(L);
            lua_pushliteral(L, "timeout");
            return 2;
        }
        nanosleep(&tick, NULL);
    }
}

/* The gate the end-to-end tests interrupt runs at, so that a signal lands
 * at a known epoch on a fast machine and a slow one alike: the test makes
 * the FIFO, reads "gate K PID" from it (the open blocks until it does), then
 * signals PID.  The run has written epoch K's metrics and checkpoint; it
 * polls the flag a trapped signal sets (whichever thread the handler ran
 * on), then stops at the next batch; SIGKILL ends it here. */
void nnl_test_gate(long long epoch) {
    const char *g = getenv("NNRUN_TEST_GATE");
    char *path = NULL;
    if (g == NULL || strtoll(g, &path, 10) != epoch || *path != ':')
        return;
    int fd = open(path + 1, O_WRONLY);
    if (fd < 0)
        return;
    char line[64];
    int n = snprintf(line, sizeof line, "gate %lld %ld\n", epoch, (long)getpid());
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    const struct timespec tick = {0, 1000 * 1000};
    while (w == n && !interrupt_signal)
        nanosleep(&tick, NULL);
}

/* nn.interrupted() -> "INT" | "TERM" | nil: the first SIGINT or SIGTERM
 * received since nn.trap_signals(); nn.fit stops at the next batch when
 * one arrives. */
static int l_interrupted(lua_State *L) {
    int sig = nnl_interrupt_signal();
    if (!sig) {
        lua_pushnil(L);
        return 1;
    }
    push_signal(L, sig);
    return 1;
}

/* nn.kill(pid, [signal = "TERM"]) -> true | nil, message
 * signal: "TERM", "INT" or "KILL"; pid must be > 0 (one process). */
static int l_kill(lua_State *L) {
    lua_Integer pid = luaL_checkinteger(L, 1);
    static const char *const names[] = {"TERM", "INT", "KILL", NULL};
    static const int sigs[] = {SIGTERM, SIGINT, SIGKILL};
    int which = luaL_checkoption(L, 2, "TERM", names);
    luaL_argcheck(L, pid > 0 && pid <= INT_MAX, 1, "not a process id");
    if (kill((pid_t)pid, sigs[which]) != 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushfstring(L, "kill %d: %s", (int)pid, strerror(e));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void nnl_open_sys(lua_State *L) {
    static const luaL_Reg funcs[] = {{"isatty", l_isatty},
                                     {"now", l_now},
                                     {"term_width", l_term_width},
                                     {"mkdir", l_mkdir},
                                     {"listdir", l_listdir},
                                     {"write_file", l_write_file},
                                     {"lock_dir", l_lock_dir},
                                     {"exe_path", l_exe_path},
                                     {"cpu_count", l_cpu_count},
                                     {"spawn", l_spawn},
                                     {"wait", l_wait},
                                     {"kill", l_kill},
                                     {"trap_signals", l_trap_signals},
                                     {"interrupted", l_interrupted},
                                     {NULL, NULL}};
    nnl_setfuncs(L, funcs);
}

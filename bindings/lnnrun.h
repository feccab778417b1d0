/* lnnrun.h — glue shared by the files of the nnrun Lua binding (private).
 *
 * Every runtime object is a full userdata whose first member is the runtime
 * handle; the handle is NULL until the runtime object is created into it and
 * again after it is released, so a closed object is recognised everywhere by
 * `*(void **)lua_touserdata(L, i) == NULL`.
 */
#ifndef NNRUN_LNNRUN_H
#define NNRUN_LNNRUN_H

#include <lauxlib.h>
#include <lua.h>

#include "nnrun.h"
#include "nnrun_lua.h" /* the public part: luaopen_nnrun, the sandbox */

#define NNL_TENSOR "nnrun.Tensor"
#define NNL_ROW "nnrun.TensorRow"
#define NNL_NET "nnrun.Net"
#define NNL_LAYER "nnrun.Layer"
#define NNL_LOSS "nnrun.Loss"
#define NNL_OPTIM "nnrun.Optimizer"
#define NNL_SCHEDULE "nnrun.Schedule"
#define NNL_DATASET "nnrun.Dataset"
#define NNL_TRAINER "nnrun.Trainer"
#define NNL_CHECKPOINT "nnrun.Checkpoint"

/* nnrun.Tensor.  User value 1: the object that owns the memory of a view
 * (a Net for parameter views), nil for a tensor owning its data. */
typedef struct l_tensor {
    nn_tensor *t;
} l_tensor;

/* busy: the running nn.fit calls that use the object; it cannot be closed
 * while busy > 0 (their loop would use freed memory). */
typedef struct l_net {
    nn_net *net;
    int busy;
} l_net;

typedef struct l_dataset {
    nn_dataset *d;
    int busy;
} l_dataset;

/* nnrun.Trainer: the runtime trainer of a running nn.fit, passed to its
 * on_epoch callback (for net:save{ trainer = }); closed when nn.fit returns
 * (running: it cannot be closed before).  User value 1: the network. */
typedef struct l_trainer {
    nn_trainer *tr;
    int running;
} l_trainer;

/* nnrun.Checkpoint: a checkpoint read for nn.fit{ resume = } (internal). */
typedef struct l_checkpoint {
    nn_checkpoint *ck;
} l_checkpoint;

/* nnrun.Optimizer.  opt is NULL until bound to a network (user value 1). */
typedef struct l_optim {
    nn_optim *opt;
    nn_optim_config cfg;
} l_optim;

/* nnrun.Loss: the kind and the gradient of the last forward. */
typedef struct l_loss {
    nn_tensor *dy;
    nn_loss_kind kind;
    double value;
} l_loss;

/* nnrun.Schedule: plain data.  has_lr is 0 when the base rate comes from the
 * optimiser. */
typedef struct l_schedule {
    nn_schedule s;
    int has_lr;
    int per_batch;
} l_schedule;

/* nnrun.Layer: a layer description for nn.sequential (plain data).
 * in < 0: take the width of the previous layer. */
/* A layer description: a registry kind and the settings given (keys and
 * string values are the registry's static strings). */
typedef struct l_layer {
    const char *kind;
    int n;
    const char *keys[NN_LAYER_MAX_PARAMS];
    nn_value vals[NN_LAYER_MAX_PARAMS];
} l_layer;

/* --- lnnrun.c: helpers ------------------------------------------------- */

/* Raises the runtime's last error as a Lua error at the caller's position,
 * remembering its class for nn.error_class. */
int nnl_fail(lua_State *L, nn_status s);
/* Option tables.  idx is the table's stack index; arg the argument number
 * that errors name; what (may be NULL) the option holding a nested table,
 * e.g. "optimizer", which prefixes the message:
 * "bad argument #3 to 'fit' (optimizer: unknown option 'lerning_rate')". */
int nnl_argerror(lua_State *L, int arg, const char *what, const char *msg);
/* Checks that every key of the table is one of keys (NULL-terminated). */
void nnl_check_options(lua_State *L, int idx, int arg, const char *what,
                       const char *const keys[]);
/* Option getters (nil or absent field -> def). */
lua_Number nnl_opt_number(lua_State *L, int idx, int arg, const char *what, const char *key,
                          lua_Number def);
lua_Integer nnl_opt_integer(lua_State *L, int idx, int arg, const char *what, const char *key,
                            lua_Integer def);
int nnl_opt_boolean(lua_State *L, int idx, int arg, const char *what, const char *key, int def);
/* Pushes a new userdata with nuv user values and the metatable tname,
 * zero-filled (handle NULL). */
void *nnl_newobject(lua_State *L, size_t size, int nuv, const char *tname);
/* Registers metatable tname with methods (also its __index) and metamethods. */
void nnl_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                  const luaL_Reg *meta);
/* Sets the functions of l into the table on top of the stack. */
void nnl_setfuncs(lua_State *L, const luaL_Reg *l);
/* Pushes a float as the shortest decimal that reads back as the same float
 * (0.1f -> 0.1, not 0.10000000149011612). */
void nnl_pushfloat(lua_State *L, float f);
/* Pushes a runtime parameter spec (of a layer kind, an optimiser or a
 * schedule) as { name=, type="int"|"float"|"choice"|"init"|"bool", default=,
 * min=, max=, min_open=, max_open=, choices=, primary=, applies_to=, doc= }
 * (default, min and max absent when there is none): the schema is built
 * from these. */
void nnl_push_param_spec(lua_State *L, const nn_param_spec *p);
/* Reads an initialiser: a name, or a table {name=, a=, b=, ...}. */
void nnl_check_init(lua_State *L, int idx, int arg, const char *what, nn_init *out);

/* --- l_tensor.c -------------------------------------------------------- */
void nnl_open_tensor(lua_State *L);
l_tensor *nnl_check_tensor(lua_State *L, int i);
/* A new Tensor userdata (handle NULL) on the stack. */
l_tensor *nnl_new_tensor(lua_State *L);
/* Argument i as a tensor: a Tensor, or a table converted into a new Tensor
 * that replaces the argument (so it stays anchored on the stack). */
nn_tensor *nnl_to_tensor(lua_State *L, int i);
/* Pushes a new Tensor holding a copy of src. */
nn_tensor *nnl_push_copy(lua_State *L, const nn_tensor *src);
/* Pushes a view owned by the object at index owner (kept alive by it). */
void nnl_push_view(lua_State *L, nn_tensor *view, int owner);

/* --- the other types --------------------------------------------------- */
void nnl_open_net(lua_State *L);
l_net *nnl_check_net(lua_State *L, int i);
void nnl_open_loss(lua_State *L);
/* A loss given by name or as a Loss object. */
nn_loss_kind nnl_check_loss_kind(lua_State *L, int i, int arg);
void nnl_open_optim(lua_State *L);
/* An optimiser given to nn.fit: nnrun.Optimizer, option table with
 * "name" (default sgd), or nil (sgd defaults). */
void nnl_check_optim_config(lua_State *L, int i, int arg, const char *what, nn_optim_config *cfg);
void nnl_open_schedule(lua_State *L);
/* Reads a schedule given as a Schedule, a name or an option table. */
void nnl_check_schedule(lua_State *L, int i, int arg, const char *what, l_schedule *out);
void nnl_open_data(lua_State *L);
/* The first SIGINT/SIGTERM caught since nn.trap_signals(), or 0 (l_sys.c). */
int nnl_interrupt_signal(void);
/* Test-only (tests/e2e): with NNRUN_TEST_GATE=K:FIFO set, called after the
 * callback of epoch k (from 1): at k == K it writes "gate K PID" to FIFO and
 * waits for SIGINT/SIGTERM (l_sys.c).  Otherwise nothing. */
void nnl_test_gate(long long epoch);
l_dataset *nnl_check_dataset(lua_State *L, int i);
/* Normalisation statistics as a Lua table { kind =, shift = {...}, div = {...} }.
 * nnl_check_norm leaves the arrays it fills in userdata on the stack. */
void nnl_check_norm(lua_State *L, int i, int arg, nn_norm *n);
void nnl_push_norm(lua_State *L, const nn_norm *n);
void nnl_open_train(lua_State *L);
void nnl_open_sys(lua_State *L);
void nnl_open_landscape(lua_State *L); /* l_landscape.c */
void nnl_open_sandbox(lua_State *L);   /* l_sandbox.c */
/* Raises unless L may write path (is_dir: create the directory path): in a
 * sandbox (nnrun_sandbox_new), only within its write_dir (and, for
 * directories, the directories above it); elsewhere anything.  Every file
 * writer of the binding calls it first. */
void nnl_check_write(lua_State *L, const char *path, int is_dir);

/* --- l_mpi.c: the optional MPI glue (nnrun.mpi) ------------------------ */
/* The nnrun executable only: initialises MPI when launched by an MPI
 * launcher (nothing otherwise, or in a build without MPI); 0, or -1 after
 * printing why MPI could not start. */
int nnl_mpi_init(int *argc, char ***argv);
/* MPI_Finalize, when nnl_mpi_init initialised MPI. */
void nnl_mpi_finalize(void);
/* Whether MPI is running (initialised and not finalised). */
int nnl_mpi_on(void);
void nnl_open_mpi(lua_State *L);
/* --- l_mpi_train.c: data-parallel training over MPI -------------------- */
/* Under MPI: pc's rank, ranks and allreduce for MPI_COMM_WORLD, and 1;
 * otherwise 0 and pc unchanged. */
int nnl_mpi_parallel(nn_parallel_config *pc);
/* The largest flag of every rank (flag itself without MPI); every rank
 * calls it at the same point. */
int nnl_mpi_any(int flag);
/* nnrun.mpi.max, into the nnrun.mpi table of the module on top. */
void nnl_open_mpi_train(lua_State *L);


#endif

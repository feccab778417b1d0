/* l_yaml.h — the YAML reader and writer (libyaml) for the nnrun Lua module. */
#ifndef NNRUN_L_YAML_H
#define NNRUN_L_YAML_H

#include <lua.h>

/* Pushes the table that becomes `require("nnrun").yaml`. Returns 1. */
int nnrun_yaml_open(lua_State *L);

#endif

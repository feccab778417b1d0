/* l_yaml.h — the YAML reader and writer (libyaml) for the nnrun Lua module.
   The Lua API (load, parse, dump, write, null), its limits and its error
   messages are documented at the top of l_yaml.c. */
#ifndef NNRUN_L_YAML_H
#define NNRUN_L_YAML_H

#include <lua.h>

/* Pushes the table that becomes `require("nnrun").yaml`. Returns 1.
   Also registers the metatables "nnrun.yaml.reader" and "nnrun.yaml.writer"
   (private scratch boxes whose __gc frees libyaml state). Sets no globals. */
int nnrun_yaml_open(lua_State *L);

#endif

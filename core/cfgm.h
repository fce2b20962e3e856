/* core/cfgm.h — CFGM, the configuration tree.
 *
 * A tree of named nodes; each node holds named, typed values (unsigned/signed integer, string, bool).
 * The CLI (and later the XML settings) builds it; PDM reads each device's subtree. Paths use '/':
 * "Devices/uart16550/0/Config". Names are case-sensitive, [A-Za-z0-9_.#-]+. */
#ifndef MODVM_CORE_CFGM_H
#define MODVM_CORE_CFGM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfgm_node;

enum cfgm_type { CFGM_UINT = 1, CFGM_INT = 2, CFGM_BOOL = 3, CFGM_STRING = 4 };

/** Creates an empty root node. */
struct cfgm_node *cfgm_create_root(void);
/** Frees a node and everything below it; a child is unlinked from its parent first. */
void cfgm_destroy(struct cfgm_node *node);

/** The child called `name`, or NULL. */
struct cfgm_node *cfgm_child(const struct cfgm_node *parent, const char *name);
/** The node at the '/'-separated `path` below `node` ("" = node itself), or NULL. */
struct cfgm_node *cfgm_lookup(const struct cfgm_node *node, const char *path);
/** Returns the node at `path`, creating missing nodes on the way; NULL on a bad name / no memory. */
struct cfgm_node *cfgm_ensure(struct cfgm_node *node, const char *path);
/** Removes and frees the child called `name`; -ENOENT when absent. */
int cfgm_remove_child(struct cfgm_node *parent, const char *name);

/** The node's name ("" for the root) and parent (NULL for the root). */
const char *cfgm_name(const struct cfgm_node *node);
struct cfgm_node *cfgm_parent(const struct cfgm_node *node);
/** Children and siblings in insertion order. */
struct cfgm_node *cfgm_first_child(const struct cfgm_node *node);
struct cfgm_node *cfgm_next_sibling(const struct cfgm_node *node);

/** Sets a value (replacing any value of that key, whatever its type). 0, -EINVAL (bad key), -ENOMEM. */
int cfgm_set_uint(struct cfgm_node *node, const char *key, uint64_t value);
int cfgm_set_int(struct cfgm_node *node, const char *key, int64_t value);
int cfgm_set_bool(struct cfgm_node *node, const char *key, bool value);
int cfgm_set_string(struct cfgm_node *node, const char *key, const char *value);

/** Reads a value: 0; -ENOENT when the key is absent; -EINVAL when it holds another type (UINT and
 * INT convert into each other when the value fits; -ERANGE when it does not). Strings stay valid
 * until the key is set again or removed, or the node destroyed. */
int cfgm_get_uint(const struct cfgm_node *node, const char *key, uint64_t *out);
int cfgm_get_int(const struct cfgm_node *node, const char *key, int64_t *out);
int cfgm_get_bool(const struct cfgm_node *node, const char *key, bool *out);
int cfgm_get_string(const struct cfgm_node *node, const char *key, const char **out);
/** The type of `key`, or 0 when absent. */
enum cfgm_type cfgm_value_type(const struct cfgm_node *node, const char *key);
/** Removes a value; -ENOENT when absent. */
int cfgm_remove_value(struct cfgm_node *node, const char *key);

/** Iterates values in insertion order: index 0.. until it returns NULL; gives the key and type. */
const char *cfgm_value_at(const struct cfgm_node *node, size_t index, enum cfgm_type *type);

/** Parses user text as a value of `type`: UINT (decimal, 0x hex, 0 octal, optional K/M/G binary
 * suffix), INT (optional sign), BOOL (on/off, yes/no, true/false, 1/0), STRING (as is). On error
 * returns -EINVAL or -ERANGE. */
int cfgm_parse_uint(const char *text, uint64_t *out);
int cfgm_parse_int(const char *text, int64_t *out);
int cfgm_parse_bool(const char *text, bool *out);

/** Writes the tree as indented text (for `modvm run -v` and tests). */
void cfgm_dump(const struct cfgm_node *node, void (*emit)(void *ctx, const char *line), void *ctx);

#endif

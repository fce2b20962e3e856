/* core/cfgm.c — CFGM, the configuration tree (API and rules in core/cfgm.h).
 *
 * Each node keeps its children and its values in singly linked lists in insertion order, so
 * iteration and `modvm run -v` dumps follow the order the user (or the settings file) gave. Names
 * and keys are stored in the same allocation as their node/value. Lists are walked linearly: a
 * machine's configuration has a few hundred entries at most, so clarity wins over lookup speed.
 * User text is parsed here by hand (not strtoull) so that exactly the documented syntax is accepted:
 * no leading blanks, no sign on unsigned values, no trailing garbage. */
#include "cfgm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFGM_NAME_MAX 127

union cfgm_payload {
    uint64_t u;
    int64_t i;
    bool b;
    char *s; /* owned */
};

struct cfgm_value {
    struct cfgm_value *next;
    enum cfgm_type type;
    union cfgm_payload p;
    char key[];
};

struct cfgm_node {
    struct cfgm_node *parent;
    struct cfgm_node *next;     /* next sibling */
    struct cfgm_node *children; /* first child */
    struct cfgm_value *values;
    char name[];                /* "" for the root */
};

/* ---- names and paths --------------------------------------------------------------------------- */

static bool cfgm_name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '#' || c == '-';
}

/* Is s[0..n) a valid node name or key: 1..CFGM_NAME_MAX characters of [A-Za-z0-9_.#-]? */
static bool cfgm_span_valid(const char *s, size_t n)
{
    if (n == 0 || n > CFGM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!cfgm_name_char_ok(s[i]))
            return false;
    }
    return true;
}

static bool cfgm_name_valid(const char *name)
{
    return name && cfgm_span_valid(name, strnlen(name, CFGM_NAME_MAX + 1));
}

/* Is `path` "" or valid names joined by single '/' (no leading, trailing or doubled '/')? */
static bool cfgm_path_valid(const char *path)
{
    if (!path)
        return false;
    if (!*path)
        return true;
    for (;;) {
        size_t n = strcspn(path, "/");
        if (!cfgm_span_valid(path, n))
            return false;
        if (!path[n])
            return true;
        path += n + 1;
    }
}

/* Moves *path past its first component and the '/' after it; returns the component's length. */
static size_t cfgm_path_step(const char **path)
{
    size_t n = strcspn(*path, "/");
    *path += n + ((*path)[n] == '/');
    return n;
}

/* ---- nodes ------------------------------------------------------------------------------------- */

static struct cfgm_node *cfgm_node_alloc(const char *name, size_t n)
{
    struct cfgm_node *node = calloc(1, sizeof(*node) + n + 1);
    if (node)
        memcpy(node->name, name, n);
    return node;
}

static void cfgm_free_values(struct cfgm_value *v)
{
    while (v) {
        struct cfgm_value *next = v->next;
        if (v->type == CFGM_STRING)
            free(v->p.s);
        free(v);
        v = next;
    }
}

static void cfgm_free_subtree(struct cfgm_node *node)
{
    struct cfgm_node *child = node->children;
    while (child) {
        struct cfgm_node *next = child->next;
        cfgm_free_subtree(child);
        child = next;
    }
    cfgm_free_values(node->values);
    free(node);
}

/* The link (in the parent's child list) that points at `node`. */
static struct cfgm_node **cfgm_link_of(struct cfgm_node *node)
{
    struct cfgm_node **pp = &node->parent->children;
    while (*pp != node)
        pp = &(*pp)->next;
    return pp;
}

/* The child named s[0..n), or NULL. */
static struct cfgm_node *cfgm_child_n(const struct cfgm_node *parent, const char *s, size_t n)
{
    for (struct cfgm_node *c = parent->children; c; c = c->next) {
        if (strlen(c->name) == n && memcmp(c->name, s, n) == 0)
            return c;
    }
    return NULL;
}

/* Appends a new child named s[0..n) (already validated) to `parent`. */
static struct cfgm_node *cfgm_add_child(struct cfgm_node *parent, const char *s, size_t n)
{
    struct cfgm_node *child = cfgm_node_alloc(s, n);
    if (!child)
        return NULL;
    child->parent = parent;
    struct cfgm_node **pp = &parent->children;
    while (*pp)
        pp = &(*pp)->next;
    *pp = child;
    return child;
}

/** Creates an empty root node. */
struct cfgm_node *cfgm_create_root(void)
{
    return cfgm_node_alloc("", 0);
}

/** Frees a node and everything below it; a child is unlinked from its parent first. */
void cfgm_destroy(struct cfgm_node *node)
{
    if (!node)
        return;
    if (node->parent)
        *cfgm_link_of(node) = node->next;
    cfgm_free_subtree(node);
}

/** The child called `name`, or NULL. */
struct cfgm_node *cfgm_child(const struct cfgm_node *parent, const char *name)
{
    if (!parent || !name)
        return NULL;
    return cfgm_child_n(parent, name, strlen(name));
}

/** The node at the '/'-separated `path` below `node` ("" = node itself), or NULL. */
struct cfgm_node *cfgm_lookup(const struct cfgm_node *node, const char *path)
{
    if (!node || !cfgm_path_valid(path))
        return NULL;
    /* Like strchr: a const view in, a mutable node out (the tree is the caller's). */
    struct cfgm_node *cur = (struct cfgm_node *)node;
    while (cur && *path) {
        const char *name = path;
        cur = cfgm_child_n(cur, name, cfgm_path_step(&path));
    }
    return cur;
}

/** Returns the node at `path`, creating missing nodes on the way; NULL on a bad name / no memory.
 * The whole path is validated first, so a bad name creates nothing. */
struct cfgm_node *cfgm_ensure(struct cfgm_node *node, const char *path)
{
    if (!node || !cfgm_path_valid(path))
        return NULL;
    while (node && *path) {
        const char *name = path;
        size_t n = cfgm_path_step(&path);
        struct cfgm_node *next = cfgm_child_n(node, name, n);
        node = next ? next : cfgm_add_child(node, name, n);
    }
    return node;
}

/** Removes and frees the child called `name`; -ENOENT when absent. */
int cfgm_remove_child(struct cfgm_node *parent, const char *name)
{
    struct cfgm_node *child = cfgm_child(parent, name);
    if (!child)
        return -ENOENT;
    cfgm_destroy(child);
    return 0;
}

/** The node's name ("" for the root). */
const char *cfgm_name(const struct cfgm_node *node)
{
    return node->name;
}

/** The node's parent (NULL for the root). */
struct cfgm_node *cfgm_parent(const struct cfgm_node *node)
{
    return node->parent;
}

/** The first child in insertion order, or NULL. */
struct cfgm_node *cfgm_first_child(const struct cfgm_node *node)
{
    return node->children;
}

/** The next sibling in insertion order, or NULL. */
struct cfgm_node *cfgm_next_sibling(const struct cfgm_node *node)
{
    return node->next;
}

/* ---- values ------------------------------------------------------------------------------------ */

/* The link that points at the value `key`, or the list's terminating NULL link when absent. */
static struct cfgm_value **cfgm_value_link(const struct cfgm_node *node, const char *key)
{
    struct cfgm_value **pp = (struct cfgm_value **)&node->values;
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static const struct cfgm_value *cfgm_find_value(const struct cfgm_node *node, const char *key)
{
    if (!node || !key)
        return NULL;
    return *cfgm_value_link(node, key);
}

/* Stores (type, p) under `key`, replacing an old value in place or appending a new one. On success
 * the value owns p.s; on failure the caller still does. */
static int cfgm_store(struct cfgm_node *node, const char *key, enum cfgm_type type, union cfgm_payload p)
{
    if (!node || !cfgm_name_valid(key))
        return -EINVAL;
    struct cfgm_value **pp = cfgm_value_link(node, key);
    if (!*pp) {
        size_t n = strlen(key);
        struct cfgm_value *v = calloc(1, sizeof(*v) + n + 1);
        if (!v)
            return -ENOMEM;
        memcpy(v->key, key, n + 1);
        *pp = v;
    } else if ((*pp)->type == CFGM_STRING) {
        free((*pp)->p.s);
    }
    (*pp)->type = type;
    (*pp)->p = p;
    return 0;
}

/** Sets an unsigned integer value. 0, -EINVAL (bad key), -ENOMEM. */
int cfgm_set_uint(struct cfgm_node *node, const char *key, uint64_t value)
{
    return cfgm_store(node, key, CFGM_UINT, (union cfgm_payload){ .u = value });
}

/** Sets a signed integer value. 0, -EINVAL (bad key), -ENOMEM. */
int cfgm_set_int(struct cfgm_node *node, const char *key, int64_t value)
{
    return cfgm_store(node, key, CFGM_INT, (union cfgm_payload){ .i = value });
}

/** Sets a boolean value. 0, -EINVAL (bad key), -ENOMEM. */
int cfgm_set_bool(struct cfgm_node *node, const char *key, bool value)
{
    return cfgm_store(node, key, CFGM_BOOL, (union cfgm_payload){ .b = value });
}

/** Sets a string value (copied). 0, -EINVAL (bad key or NULL value), -ENOMEM. */
int cfgm_set_string(struct cfgm_node *node, const char *key, const char *value)
{
    if (!value)
        return -EINVAL;
    /* Copy before replacing: `value` may be the very string the key holds now. */
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    int rc = cfgm_store(node, key, CFGM_STRING, (union cfgm_payload){ .s = copy });
    if (rc < 0)
        free(copy);
    return rc;
}

/** Reads an unsigned value; a non-negative INT converts, a negative one gives -ERANGE. */
int cfgm_get_uint(const struct cfgm_node *node, const char *key, uint64_t *out)
{
    const struct cfgm_value *v = cfgm_find_value(node, key);
    if (!v)
        return -ENOENT;
    if (v->type == CFGM_UINT) {
        *out = v->p.u;
        return 0;
    }
    if (v->type != CFGM_INT)
        return -EINVAL;
    if (v->p.i < 0)
        return -ERANGE;
    *out = (uint64_t)v->p.i;
    return 0;
}

/** Reads a signed value; a UINT up to INT64_MAX converts, a larger one gives -ERANGE. */
int cfgm_get_int(const struct cfgm_node *node, const char *key, int64_t *out)
{
    const struct cfgm_value *v = cfgm_find_value(node, key);
    if (!v)
        return -ENOENT;
    if (v->type == CFGM_INT) {
        *out = v->p.i;
        return 0;
    }
    if (v->type != CFGM_UINT)
        return -EINVAL;
    if (v->p.u > INT64_MAX)
        return -ERANGE;
    *out = (int64_t)v->p.u;
    return 0;
}

/** Reads a boolean value. */
int cfgm_get_bool(const struct cfgm_node *node, const char *key, bool *out)
{
    const struct cfgm_value *v = cfgm_find_value(node, key);
    if (!v)
        return -ENOENT;
    if (v->type != CFGM_BOOL)
        return -EINVAL;
    *out = v->p.b;
    return 0;
}

/** Reads a string value (owned by the tree). */
int cfgm_get_string(const struct cfgm_node *node, const char *key, const char **out)
{
    const struct cfgm_value *v = cfgm_find_value(node, key);
    if (!v)
        return -ENOENT;
    if (v->type != CFGM_STRING)
        return -EINVAL;
    *out = v->p.s;
    return 0;
}

/** The type of `key`, or 0 when absent. */
enum cfgm_type cfgm_value_type(const struct cfgm_node *node, const char *key)
{
    const struct cfgm_value *v = cfgm_find_value(node, key);
    return v ? v->type : 0;
}

/** Removes a value; -ENOENT when absent. */
int cfgm_remove_value(struct cfgm_node *node, const char *key)
{
    if (!node || !key)
        return -ENOENT;
    struct cfgm_value **pp = cfgm_value_link(node, key);
    struct cfgm_value *v = *pp;
    if (!v)
        return -ENOENT;
    *pp = v->next;
    v->next = NULL;
    cfgm_free_values(v);
    return 0;
}

/** Iterates values in insertion order: index 0.. until it returns NULL; gives the key and type. */
const char *cfgm_value_at(const struct cfgm_node *node, size_t index, enum cfgm_type *type)
{
    const struct cfgm_value *v = node->values;
    for (; v && index > 0; index--)
        v = v->next;
    if (!v)
        return NULL;
    if (type)
        *type = v->type;
    return v->key;
}

/* ---- parsing user text ------------------------------------------------------------------------- */

/* The value of digit `c` in `base`, or -1. */
static int cfgm_digit(char c, unsigned base)
{
    int d;
    if (c >= '0' && c <= '9')
        d = c - '0';
    else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
    else
        return -1;
    return (unsigned)d < base ? d : -1;
}

/* The shift of a binary suffix K/M/G, or 0 for anything else. */
static unsigned cfgm_suffix_shift(char c)
{
    switch (c) {
    case 'K':
        return 10;
    case 'M':
        return 20;
    case 'G':
        return 30;
    default:
        return 0;
    }
}

/* Parses an unsigned magnitude: decimal, 0x hex or 0 octal, then an optional K/M/G. Syntax errors
 * win over overflow, so "99999999999999999999x" is -EINVAL, not -ERANGE. */
static int cfgm_parse_magnitude(const char *s, uint64_t *out)
{
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0') {
        base = 8; /* the leading 0 is itself an octal digit, so "0" and "0K" still parse */
    }
    const char *digits = s;
    uint64_t v = 0;
    bool overflow = false;
    for (int d; (d = cfgm_digit(*s, base)) >= 0; s++) {
        if (v > (UINT64_MAX - (unsigned)d) / base)
            overflow = true;
        else
            v = v * base + (unsigned)d;
    }
    if (s == digits)
        return -EINVAL;
    unsigned shift = cfgm_suffix_shift(*s);
    if (shift)
        s++;
    if (*s)
        return -EINVAL;
    if (overflow || v > UINT64_MAX >> shift)
        return -ERANGE;
    *out = v << shift;
    return 0;
}

/** Parses an unsigned integer: decimal, 0x hex, 0 octal, optional K/M/G (×1024^n). */
int cfgm_parse_uint(const char *text, uint64_t *out)
{
    if (!text)
        return -EINVAL;
    return cfgm_parse_magnitude(text, out);
}

/** Parses a signed integer: an optional '+' or '-', then the unsigned syntax. */
int cfgm_parse_int(const char *text, int64_t *out)
{
    if (!text)
        return -EINVAL;
    bool neg = text[0] == '-';
    if (text[0] == '-' || text[0] == '+')
        text++;
    uint64_t m;
    int rc = cfgm_parse_magnitude(text, &m);
    if (rc < 0)
        return rc;
    if (m > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        return -ERANGE;
    /* -(m - 1) - 1 reaches INT64_MIN without overflowing; m == 0 is plain 0. */
    if (!neg || m == 0)
        *out = (int64_t)m;
    else
        *out = -(int64_t)(m - 1) - 1;
    return 0;
}

/** Parses a boolean: on/off, yes/no, true/false, 1/0 (exactly these, lower case). */
int cfgm_parse_bool(const char *text, bool *out)
{
    static const struct {
        const char *word;
        bool value;
    } words[] = {
        { "on", true },  { "off", false }, { "yes", true }, { "no", false },
        { "true", true }, { "false", false }, { "1", true },  { "0", false },
    };
    if (!text)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(text, words[i].word) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- dumping ----------------------------------------------------------------------------------- */

/* `s` in double quotes with '"' and '\' backslash-escaped and control bytes as \xNN, so that every
 * value stays on one line. Caller frees; NULL when out of memory. */
static char *cfgm_quote(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * n + 3);
    if (!out)
        return NULL;
    char *o = out;
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\x%02x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* "key = value" indented by `indent` spaces; NULL when out of memory. */
static char *cfgm_format_value(const struct cfgm_value *v, int indent)
{
    char *line = NULL;
    char *quoted = NULL;
    int rc = -1;
    switch (v->type) {
    case CFGM_UINT:
        rc = asprintf(&line, "%*s%s = %" PRIu64, indent, "", v->key, v->p.u);
        break;
    case CFGM_INT:
        rc = asprintf(&line, "%*s%s = %" PRId64, indent, "", v->key, v->p.i);
        break;
    case CFGM_BOOL:
        rc = asprintf(&line, "%*s%s = %s", indent, "", v->key, v->p.b ? "true" : "false");
        break;
    case CFGM_STRING:
        quoted = cfgm_quote(v->p.s);
        if (quoted)
            rc = asprintf(&line, "%*s%s = %s", indent, "", v->key, quoted);
        free(quoted);
        break;
    }
    return rc < 0 ? NULL : line;
}

/* Emits a line, dropping it when formatting ran out of memory (a dump is diagnostics only). */
static void cfgm_emit(char *line, void (*emit)(void *ctx, const char *line), void *ctx)
{
    if (line)
        emit(ctx, line);
    free(line);
}

static void cfgm_dump_level(const struct cfgm_node *node, int indent,
                            void (*emit)(void *ctx, const char *line), void *ctx)
{
    for (const struct cfgm_value *v = node->values; v; v = v->next)
        cfgm_emit(cfgm_format_value(v, indent), emit, ctx);
    for (const struct cfgm_node *c = node->children; c; c = c->next) {
        char *line = NULL;
        if (asprintf(&line, "%*s%s/", indent, "", c->name) < 0)
            line = NULL;
        cfgm_emit(line, emit, ctx);
        cfgm_dump_level(c, indent + 2, emit, ctx);
    }
}

/** Writes the tree below `node` as indented text: first the node's values ("key = value", strings
 * quoted), then each child as "name/" followed by its contents indented two more spaces. */
void cfgm_dump(const struct cfgm_node *node, void (*emit)(void *ctx, const char *line), void *ctx)
{
    cfgm_dump_level(node, 0, emit, ctx);
}

/* The fast path of vpnet.data.ntu.read_skeleton: one C pass over the bytes of an NTU .skeleton file.
 *
 * parse(data: bytes) -> tuple | None
 *
 * Returns (num_frames, frames, lines, ids, body_values, joint_values) for a well-formed file:
 *   frames, lines  bytes of N int64: the frame and the 0-based line index of each body line
 *   ids            list of N str: the first field of each body line (the body id, as written)
 *   body_values    bytes of N*10 float64: the body lines
 *   joint_values   bytes of N*25*12 float64: the joint lines
 * N is the number of (frame, body) entries, in file order.
 *
 * Returns None for anything else: wrong counts, a truncated file, a token that is not a plain
 * decimal number, non-finite values, bytes other than digits, signs, '.', 'e'/'E', blanks and
 * line ends. The caller then runs the checking reader, which explains the problem (or parses the
 * rare valid file this grammar does not cover). So this file holds no error messages and accepts
 * only a subset of what the checking reader accepts.
 *
 * Numbers are correctly rounded, so the values are bit-identical to Python's float(): a decimal
 * with at most 19 significant digits w and exponent e is w * 10^e in one IEEE operation when w and
 * 10^|e| are both exact doubles (w <= 2^53, |e| <= 22; Clinger's fast path), or (double)w for an
 * integer; every other token goes to PyOS_string_to_double, CPython's own correctly rounded
 * converter.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NUM_JOINTS 25
#define JOINT_WIDTH 12
#define BODY_WIDTH 10

/* The fast path relies on each operation rounding once to double (SSE2, aarch64, ...). */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define EXACT_DOUBLE_OPS 1
#else
#define EXACT_DOUBLE_OPS 0
#endif

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    const char *p;
    const char *end;
    Py_ssize_t line; /* 0-based index of the line p is on */
} Cursor;

static inline int is_blank(char ch) { return ch == ' ' || ch == '\t'; }
/* a blank or a line end: what may follow a number, and all that may follow the last frame */
static inline int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }
static inline int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static inline void skip_blanks(Cursor *c) {
    while (is_blank(*c->p)) c->p++; /* the NUL at the end is not blank */
}

/* Consume trailing blanks and the line end ("\n", "\r\n" or the end of the data). 0: something else. */
static inline int end_line(Cursor *c) {
    skip_blanks(c);
    if (*c->p == '\r') c->p++;
    if (c->p == c->end) return 1;
    if (*c->p != '\n') return 0;
    c->p++;
    c->line++;
    return 1;
}

/* A line holding one non-negative integer (a frame, body or joint count). */
static int read_count(Cursor *c, long *out) {
    skip_blanks(c);
    long n = 0;
    int digits = 0;
    while (is_digit(*c->p)) {
        if (++digits > 9) return 0;
        n = n * 10 + (*c->p++ - '0');
    }
    if (digits == 0 || !end_line(c)) return 0;
    *out = n;
    return 1;
}

/* Python's converter, for the tokens the fast path cannot do exactly. */
static int slow_number(const char *s, Py_ssize_t len, double *out) {
    char buf[128];
    if (len >= (Py_ssize_t)sizeof(buf)) return 0;
    memcpy(buf, s, (size_t)len);
    buf[len] = '\0';
    char *stop = NULL;
    double v = PyOS_string_to_double(buf, &stop, NULL);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (stop != buf + len) return 0;
    *out = v;
    return 1;
}

/* One token: [+-] digits [. digits] [(e|E) [+-] digits], at least one mantissa digit, followed by a
 * blank or a line end. Stores a finite double. The data ends with a NUL (a bytes object), which is
 * not a digit, so the digit loops need no bounds checks. */
static inline int read_number(Cursor *c, double *out) {
    const char *s = c->p, *q = s;
    int neg = 0;
    if (*q == '-' || *q == '+') neg = (*q++ == '-');
    uint64_t w = 0;
    const char *first = q;
    for (; is_digit(*q); q++) w = w * 10 + (uint64_t)(*q - '0');
    long digits = q - first, e = 0;
    if (*q == '.') {
        const char *frac = ++q;
        for (; is_digit(*q); q++) w = w * 10 + (uint64_t)(*q - '0');
        e = -(long)(q - frac);
        digits -= e;
    }
    if (digits == 0) return 0;
    if (*q == 'e' || *q == 'E') {
        q++;
        int eneg = 0;
        if (*q == '-' || *q == '+') eneg = (*q++ == '-');
        if (!is_digit(*q)) return 0;
        long x = 0;
        for (; is_digit(*q); q++)
            if (x < 100000) x = x * 10 + (*q - '0');
        e += eneg ? -x : x;
    }
    if (q != c->end && !is_space(*q)) return 0;
    double v;
    if (EXACT_DOUBLE_OPS && digits <= 19 && w <= (UINT64_C(1) << 53) && e >= -22 && e <= 22) {
        v = e < 0 ? (double)w / POW10[-e] : (double)w * POW10[e]; /* w has no overflow: <= 19 digits */
        if (neg) v = -v;
    } else if (EXACT_DOUBLE_OPS && digits <= 19 && (w == 0 || e == 0)) {
        v = (double)w; /* an integer (or zero): one rounding */
        if (neg) v = -v;
    } else if (!slow_number(s, q - s, &v)) {
        return 0;
    }
    if (!isfinite(v)) return 0;
    c->p = q;
    *out = v;
    return 1;
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Eight characters at once (SWAR): the common token, [-] 1-7 digits [. 0-7 digits], without the
 * per-character branches that random values mispredict. Anything else goes to read_number. */
#define ONES UINT64_C(0x0101010101010101)

static inline uint64_t load8(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8); /* the first character in the lowest byte */
    return v;
}

/* How many of the 8 characters in v, from the first, are digits. */
static inline int leading_digits(uint64_t v) {
    /* a digit is 0x30-0x39: high nibble 3, and still 3 after adding 6 */
    uint64_t other = ((v & (0xF0 * ONES)) ^ (0x30 * ONES)) | (((v + 6 * ONES) & (0xF0 * ONES)) ^ (0x30 * ONES));
    return other ? __builtin_ctzll(other) >> 3 : 8; /* a carry only disturbs bytes after a non-digit */
}

/* The value of the first n (1-8) characters of v, all digits. */
static inline uint64_t digits_value(uint64_t v, int n) {
    v = (v - 0x30 * ONES) << (8 * (8 - n)); /* the digits, after 8 - n leading zeros */
    v = (v * 10 + (v >> 8)) & UINT64_C(0x00FF00FF00FF00FF); /* 4 two-digit numbers */
    v = (v * 100 + (v >> 16)) & UINT64_C(0x0000FFFF0000FFFF); /* 2 four-digit numbers */
    return (v * 10000 + (v >> 32)) & UINT64_C(0xFFFFFFFF);
}

static const uint64_t POW10_INT[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

static inline int read_number_fast(Cursor *c, double *out) {
    const char *q = c->p;
    if (!EXACT_DOUBLE_OPS || c->end - q < 32) return read_number(c, out); /* the loads below stay in bounds */
    int neg = *q == '-';
    q += neg;
    uint64_t v = load8(q);
    int n = leading_digits(v);
    if (n == 0 || n == 8) return read_number(c, out);
    q += n;
    uint64_t w;
    int frac = 0;
    if (*q != '.') {
        w = digits_value(v, n);
    } else {
        uint64_t f = load8(++q);
        int k = leading_digits(f);
        if (n + k <= 8) { /* the common case: one conversion of the digits around the '.' */
            w = digits_value((v & (~UINT64_C(0) >> (64 - 8 * n))) | (f << (8 * n)), n + k);
        } else { /* up to 15 fraction digits, in two more loads (NTU writes e.g. 0.08028003) */
            w = digits_value(v, n);
            if (k == 8) {
                w = w * POW10_INT[8] + digits_value(f, 8);
                q += 8;
                frac = 8;
                f = load8(q);
                k = leading_digits(f);
                if (k == 8) return read_number(c, out);
            }
            if (k) w = w * POW10_INT[k] + digits_value(f, k);
        }
        q += k;
        frac += k;
    }
    if (!is_space(*q)) return read_number(c, out); /* e.g. an exponent */
    /* at most 7 + 15 digits: w may have wrapped past 19 digits, so count them */
    if (n + frac > 15 && (n + frac > 19 || w > (UINT64_C(1) << 53))) return read_number(c, out);
    double x = (double)w / POW10[frac]; /* w <= 2^53, frac <= 15: one rounding, as in read_number */
    *out = neg ? -x : x;
    c->p = q;
    return 1;
}
#else
#define read_number_fast read_number
#endif

/* A line of exactly `width` numbers into out[0..width). */
static inline int read_row(Cursor *c, double *out, int width) {
    for (int k = 0; k < width; k++) {
        skip_blanks(c);
        if (!read_number_fast(c, out + k)) return 0;
    }
    return end_line(c);
}

/* Output buffers, sized for the most bodies the file could hold (see parse). */
typedef struct {
    PyObject *frames, *lines, *bodies, *joints, *ids;
    Py_ssize_t cap, n;
} Out;

/* Shrink the buffers to the n bodies found. */
static int out_shrink(Out *o, Py_ssize_t n) {
    if (_PyBytes_Resize(&o->frames, n * (Py_ssize_t)sizeof(int64_t)) < 0 ||
        _PyBytes_Resize(&o->lines, n * (Py_ssize_t)sizeof(int64_t)) < 0 ||
        _PyBytes_Resize(&o->bodies, n * BODY_WIDTH * (Py_ssize_t)sizeof(double)) < 0 ||
        _PyBytes_Resize(&o->joints, n * NUM_JOINTS * JOINT_WIDTH * (Py_ssize_t)sizeof(double)) < 0)
        return 0;
    o->cap = n;
    return 1;
}

static int out_init(Out *o, Py_ssize_t cap) {
    o->frames = PyBytes_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(int64_t));
    o->lines = PyBytes_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(int64_t));
    o->bodies = PyBytes_FromStringAndSize(NULL, cap * BODY_WIDTH * (Py_ssize_t)sizeof(double));
    o->joints = PyBytes_FromStringAndSize(NULL, cap * NUM_JOINTS * JOINT_WIDTH * (Py_ssize_t)sizeof(double));
    o->ids = PyList_New(0);
    o->cap = cap;
    o->n = 0;
    return o->frames && o->lines && o->bodies && o->joints && o->ids;
}

static void out_clear(Out *o) {
    Py_XDECREF(o->frames);
    Py_XDECREF(o->lines);
    Py_XDECREF(o->bodies);
    Py_XDECREF(o->joints);
    Py_XDECREF(o->ids);
}

/* 1: parsed; 0: not this grammar (return None); -1: a Python error (memory). */
static int parse_into(const char *data, Py_ssize_t size, long *num_frames, Out *o) {
    Cursor c = {data, data + size, 0};
    long nf;
    if (!read_count(&c, &nf) || nf == 0) return 0;
    for (long t = 0; t < nf; t++) {
        long nb, nj;
        if (!read_count(&c, &nb)) return 0;
        for (long b = 0; b < nb; b++) {
            if (o->n == o->cap) return 0; /* cannot happen: the capacity counts every line (see parse) */
            Py_ssize_t i = o->n;
            ((int64_t *)PyBytes_AS_STRING(o->frames))[i] = t;
            ((int64_t *)PyBytes_AS_STRING(o->lines))[i] = c.line;
            skip_blanks(&c);
            const char *id = c.p;
            double *body = (double *)PyBytes_AS_STRING(o->bodies) + i * BODY_WIDTH;
            if (!read_row(&c, body, BODY_WIDTH)) return 0;
            const char *id_end = id;
            while (!is_blank(*id_end)) id_end++; /* the row has 10 fields: a blank follows the first */
            PyObject *s = PyUnicode_DecodeASCII(id, id_end - id, NULL);
            if (s == NULL) return -1;
            int rc = PyList_Append(o->ids, s);
            Py_DECREF(s);
            if (rc < 0) return -1;
            if (!read_count(&c, &nj) || nj != NUM_JOINTS) return 0;
            double *joints = (double *)PyBytes_AS_STRING(o->joints) + i * NUM_JOINTS * JOINT_WIDTH;
            for (int j = 0; j < NUM_JOINTS; j++)
                if (!read_row(&c, joints + j * JOINT_WIDTH, JOINT_WIDTH)) return 0;
            o->n++;
        }
    }
    for (; c.p < c.end; c.p++) /* only blank lines may follow */
        if (!is_space(*c.p)) return 0;
    if (o->n == 0) return 0;
    *num_frames = nf;
    return 1;
}

static PyObject *parse(PyObject *Py_UNUSED(module), PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "parse() takes bytes"); /* bytes end with a NUL: see read_number */
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(arg);
    Py_ssize_t size = PyBytes_GET_SIZE(arg);
    Out o;
    PyObject *result = NULL;
    long nf = 0;
    /* every body takes 27 lines (body line, joint count, 25 joints): room for all of them */
    Py_ssize_t lines = 1;
    for (const char *q = data; (q = memchr(q, '\n', (size_t)(data + size - q))) != NULL; q++) lines++;
    if (out_init(&o, lines / 27 + 1)) {
        int rc = parse_into(data, size, &nf, &o);
        if (rc == 0) {
            result = Py_NewRef(Py_None);
        } else if (rc == 1 && out_shrink(&o, o.n)) {
            result = Py_BuildValue("lOOOOO", nf, o.frames, o.lines, o.ids, o.bodies, o.joints);
        }
    }
    out_clear(&o);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_O,
     "parse(data) -> (num_frames, frames, lines, ids, body_values, joint_values) or None.\n\n"
     "The fast path of vpnet.data.ntu.read_skeleton; None means: use the checking reader."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_skeleton", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__skeleton(void) { return PyModule_Create(&module); }

/* Max pooling of float32 channels_last images: one pass forward, one pass backward.
 *
 * The optional compiled kernel of max_pool.py, which gets the same results from NumPy without it.
 * x is (N, H, W, C), C-contiguous. The window of output pixel (r, q) sees the input pixels
 * (r * sh + i * dh - top, q * sw + j * dw - left) for taps i < kh, j < kw; pixels outside the image
 * are padding and never a maximum. Forward writes each window's maximum (a NaN if it has one) and
 * a map of where its maxima are: bit i * kw + j of a uint32 per output value. Backward shares each
 * window's gradient equally among those maxima, as Tensor.max does. Both run on the images
 * [n0, n1) with the GIL released, so that Python can give blocks of the batch to several threads.
 * They vectorize along the channels: max_pool.py calls them for 8 channels or more.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(__GNUC__)
#error "written for GCC or Clang (their vector extensions); without this kernel, max_pool.py uses NumPy"
#endif

#if defined(__x86_64__) && defined(__linux__)
/* One build for every x86-64 CPU: the loader picks the AVX2 copy where the CPU has AVX2. */
#define ANY_X86 __attribute__((target_clones("avx2", "default")))
#else
#define ANY_X86
#endif
#define INLINE inline __attribute__((always_inline))

#define MAX_TAPS 32   /* bits in a map value */

typedef struct {
    Py_ssize_t n0, n1, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, top, left;
    Py_ssize_t x_values, y_values;   /* in images [0, n1) of x (and gx), and of out, bits and gy */
} Windows;

#define WINDOWS_FIELDS 15

/* Taps [*first, *stop) of a window along one axis fall inside the image (the rest is padding);
 * start: the input index of its tap 0. */
static void inside(Py_ssize_t start, Py_ssize_t dilation, Py_ssize_t taps, Py_ssize_t size,
                   Py_ssize_t *first, Py_ssize_t *stop)
{
    *first = 0;
    while (*first < taps && start + *first * dilation < 0) ++*first;
    *stop = taps;
    while (*stop > *first && start + (*stop - 1) * dilation >= size) --*stop;
}

/* Visit output row r of every image n in [n0, n1): `at` indexes its first value in out, `top` is
 * the input row of tap row 0 of its windows, and tap rows [i0, i1) fall inside the image. */
#define FOR_EACH_OUTPUT_ROW(g)                                                                    \
    for (Py_ssize_t n = (g)->n0; n < (g)->n1; ++n)                                                \
    for (Py_ssize_t r = 0, i0, i1, top = -(g)->top, at = n * (g)->oh * (g)->ow * (g)->c;          \
         r < (g)->oh && (inside(top, (g)->dh, (g)->kh, (g)->h, &i0, &i1), 1);                     \
         ++r, top += (g)->sh, at += (g)->ow * (g)->c)

/* Visit tap (i, j) inside the image of window q of that output row, a tap row at a time, so that
 * x is read (and gx written) along its rows: `pixel` indexes the tap's C values in x. */
#define FOR_EACH_TAP(g)                                                                           \
    for (Py_ssize_t i = i0; i < i1; ++i)                                                          \
    for (Py_ssize_t q = 0, j0, j1, left = -(g)->left;                                             \
         q < (g)->ow && (inside(left, (g)->dw, (g)->kw, (g)->w, &j0, &j1), 1);                    \
         ++q, left += (g)->sw)                                                                    \
    for (Py_ssize_t j = j0, pixel = ((n * (g)->h + top + i * (g)->dh) * (g)->w + left + j * (g)->dw) * (g)->c; \
         j < j1; ++j, pixel += (g)->dw * (g)->c)

/* out = the maxima of the windows; bits = where they are. */
ANY_X86 static void forward(const float *restrict x, float *restrict out, uint32_t *restrict bits,
                            const Windows *g)
{
    FOR_EACH_OUTPUT_ROW(g) {
        for (Py_ssize_t k = at; k < at + g->ow * g->c; ++k) {
            out[k] = -INFINITY;
            bits[k] = 0;
        }
        FOR_EACH_TAP(g) {
            const float *p = x + pixel;
            float *o = out + at + q * g->c;
            uint32_t *b = bits + at + q * g->c, tap = (uint32_t)1 << (i * g->kw + j);
            for (Py_ssize_t k = 0; k < g->c; ++k) {   /* masks of all ones or zeros: it vectorizes */
                float v = p[k], m = o[k];
                uint32_t above = -(uint32_t)(!(v <= m) & (m == m));   /* above m, or a first NaN */
                float new_max = above ? v : m;
                uint32_t is_max = -(uint32_t)((v == new_max) | (v != v));   /* a NaN stays the max */
                o[k] = new_max;
                b[k] = (b[k] & ~above) | (is_max & tap);
            }
        }
    }
}

/* Eight channels at once (one AVX2 vector, two SSE ones), at any address; a cast between the two
 * types keeps the bits. */
#define LANES 8
typedef float floats __attribute__((vector_size(4 * LANES), aligned(4)));
typedef int32_t masks __attribute__((vector_size(4 * LANES), aligned(4)));

/* gx = each window's gradient gy shared among its maxima `bits`; share: room for OW * C values.
 * Windows that `tile` the image give each pixel at most once: gx is then written, not added to. */
static INLINE void spread(const uint32_t *bits, const float *gy, float *gx, float *share, const Windows *g,
                          const int tile)
{
    Py_ssize_t image = g->h * g->w * g->c, row = g->ow * g->c;
    if (!tile || g->oh * g->kh < g->h || g->ow * g->kw < g->w)   /* gx added to, or pixels no window writes */
        memset(gx + g->n0 * image, 0, sizeof(float) * (g->n1 - g->n0) * image);
    FOR_EACH_OUTPUT_ROW(g) {
        const uint32_t *b = bits + at;
        const float *shares = gy + at;   /* each window's gradient whole, to its one maximum */
        uint32_t ties = 0;
        for (Py_ssize_t k = 0; k < row; ++k) ties |= b[k] & (b[k] - 1);   /* two bits or more */
        if (ties) {   /* rare in real data, common after relu: count the maxima */
            for (Py_ssize_t k = 0; k < row; ++k) share[k] = 0;
            for (Py_ssize_t t = 0; t < g->kh * g->kw; ++t)
                for (Py_ssize_t k = 0; k < row; ++k) share[k] += (b[k] >> t) & 1;
            for (Py_ssize_t k = 0; k < row; ++k) share[k] = gy[at + k] / share[k];
            shares = share;
        }
        FOR_EACH_TAP(g) {
            float *d = gx + pixel;
            const float *s = shares + q * g->c;
            const uint32_t *bq = b + q * g->c;
            int32_t t = (int32_t)(i * g->kw + j);
            Py_ssize_t k = 0;
            for (; k + LANES <= g->c; k += LANES) {   /* by hand: GCC's auto-vectorized loop is slower */
                masks hit = -((*(const masks *)(bq + k) >> t) & 1);   /* all ones where tap t is a max */
                floats given = (floats)(hit & (masks)*(const floats *)(s + k));
                if (tile) *(floats *)(d + k) = given;
                else *(floats *)(d + k) += given;
            }
            for (; k < g->c; ++k) {   /* the channels after the last 8 */
                float given = (bq[k] >> t) & 1 ? s[k] : 0;
                d[k] = tile ? given : d[k] + given;
            }
        }
    }
}

ANY_X86 static void backward(const uint32_t *bits, const float *gy, float *gx, float *share,
                             const Windows *g, int tile)
{
    if (tile) spread(bits, gy, gx, share, g, 1);   /* each case compiled on its own */
    else spread(bits, gy, gx, share, g, 0);
}

/* a * b and a + b of sizes (>= 0), or -1 when an operand is -1 or the result does not fit. */
static Py_ssize_t times(Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t result;
    return a < 0 || b < 0 || __builtin_mul_overflow(a, b, &result) ? -1 : result;
}

static Py_ssize_t plus(Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t result;
    return a < 0 || b < 0 || __builtin_add_overflow(a, b, &result) ? -1 : result;
}

/* Windows from a tuple of 15 ints (n0, n1, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, top, left). */
static int parse_windows(PyObject *tuple, Windows *g)
{
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != WINDOWS_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "windows must be a tuple of 15 ints "
                        "(n0, n1, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, top, left)");
        return -1;
    }
    if (!PyArg_ParseTuple(tuple, "nnnnnnnnnnnnnnn:windows", &g->n0, &g->n1, &g->h, &g->w, &g->c, &g->oh,
                          &g->ow, &g->kh, &g->kw, &g->sh, &g->sw, &g->dh, &g->dw, &g->top, &g->left))
        return -1;
    if (g->n0 < 0 || g->n1 < g->n0 || g->h < 1 || g->w < 1 || g->c < 1 || g->oh < 0 || g->ow < 0
        || g->kh < 1 || g->kw < 1 || g->kh > MAX_TAPS || g->kw > MAX_TAPS || g->kh * g->kw > MAX_TAPS
        || g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->top < 0 || g->left < 0) {
        PyErr_SetString(PyExc_ValueError, "windows: no such block of images or geometry "
                        "(at most 32 taps)");
        return -1;
    }
    /* Every index the kernels form fits a Py_ssize_t (signed overflow would be undefined): a row
     * index stays below oh + 1 steps of windows, a value's below x's values and a row of windows'
     * reach past them (one step past the last); the sizes in bytes fit too. */
    Py_ssize_t rows = times(plus(g->oh, 1), plus(g->sh, times(g->kh, g->dh)));
    Py_ssize_t cols = times(times(plus(g->ow, 1), plus(g->sw, times(g->kw, g->dw))), g->c);
    g->x_values = times(g->n1, times(times(g->h, g->w), g->c));
    g->y_values = times(g->n1, times(times(g->oh, g->ow), g->c));
    if (rows < 0 || plus(g->x_values, cols) < 0 || times(g->x_values, 4) < 0 || times(g->y_values, 4) < 0) {
        PyErr_SetString(PyExc_ValueError, "windows: too large for this machine's indices");
        return -1;
    }
    return 0;
}

/* 0 and `obj`'s memory as `view`, if it is C-contiguous, writable when asked, and holds `values`
 * 4-byte values of `format` ("f": float32, "I": uint32) or more, so that no kernel reaches past its
 * end; else -1 with an exception. */
static int values_of(PyObject *obj, const char *name, const char *format, int writable, Py_ssize_t values,
                     Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)))
        return -1;
    if (view->itemsize != 4 || strcmp(view->format, format) != 0) {
        PyErr_Format(PyExc_TypeError, "%s holds values of format '%s' (%zd bytes); the kernel takes '%s' "
                     "(%s)", name, view->format, view->itemsize, format, *format == 'f' ? "float32" : "uint32");
        return -1;
    }
    if (view->len < values * 4) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes; the windows need %zd", name, view->len, values * 4);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(forward_doc, "forward(x, out, bits, windows)\n\n"
             "out[n0:n1] = the maxima of the windows of float32 x[n0:n1]; uint32 bits[n0:n1] = where "
             "they are (bit i * kw + j for tap (i, j)).");

static PyObject *max_pool_forward(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *out_obj, *bits_obj, *tuple;
    Py_buffer x = {0}, out = {0}, bits = {0};   /* released below whether acquired or not */
    Windows g;
    if (!PyArg_ParseTuple(args, "OOOO:forward", &x_obj, &out_obj, &bits_obj, &tuple)) return NULL;
    int bad = parse_windows(tuple, &g) || values_of(x_obj, "x", "f", 0, g.x_values, &x)
              || values_of(out_obj, "out", "f", 1, g.y_values, &out)
              || values_of(bits_obj, "bits", "I", 1, g.y_values, &bits);
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        forward(x.buf, out.buf, bits.buf, &g);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    PyBuffer_Release(&bits);
    return bad ? NULL : Py_NewRef(Py_None);
}

PyDoc_STRVAR(backward_doc, "backward(bits, gy, gx, windows, tile)\n\n"
             "float32 gx[n0:n1] = gy[n0:n1] shared among the maxima `bits` of each window. tile: the "
             "windows tile the image (strides = size, no padding, no dilation).");

static PyObject *max_pool_backward(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *bits_obj, *gy_obj, *gx_obj, *tuple;
    Py_buffer bits = {0}, gy = {0}, gx = {0};
    int tile;
    Windows g;
    if (!PyArg_ParseTuple(args, "OOOOp:backward", &bits_obj, &gy_obj, &gx_obj, &tuple, &tile)) return NULL;
    int bad = parse_windows(tuple, &g) || values_of(bits_obj, "bits", "I", 0, g.y_values, &bits)
              || values_of(gy_obj, "gy", "f", 0, g.y_values, &gy)
              || values_of(gx_obj, "gx", "f", 1, g.x_values, &gx);
    float *share = bad ? NULL : PyMem_RawMalloc(sizeof(float) * (size_t)(g.ow * g.c + 1));
    if (!bad && share == NULL) {
        PyErr_NoMemory();
        bad = 1;
    }
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        backward(bits.buf, gy.buf, gx.buf, share, &g, tile);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(share);
    PyBuffer_Release(&bits);
    PyBuffer_Release(&gy);
    PyBuffer_Release(&gx);
    return bad ? NULL : Py_NewRef(Py_None);
}

static PyMethodDef methods[] = {
    {"forward", max_pool_forward, METH_VARARGS, forward_doc},
    {"backward", max_pool_backward, METH_VARARGS, backward_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_max_pool", .m_size = -1, .m_methods = methods,
    .m_doc = "The optional compiled max-pool kernels of tinygrad_cnn.conv.max_pool (float32).",
};

PyMODINIT_FUNC PyInit__max_pool(void) { return PyModule_Create(&module); }

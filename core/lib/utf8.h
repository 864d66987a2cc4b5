/* UTF-8 helpers the core shares: well-formedness of one sequence, and
 * cutting text on a character boundary (for messages that quote input
 * and for events that carry a prefix of a tool's output). */
#ifndef FLUE_LIB_UTF8_H
#define FLUE_LIB_UTF8_H

#include <stddef.h>

/* The length of the well-formed UTF-8 sequence at s[0, n) (n > 0), or 0
 * for an ill-formed one.  NUL counts as ill-formed: text travels as C
 * strings, and neither cmark nor a model has a use for the byte. */
size_t flue_utf8_seq_len(const unsigned char *s, size_t n);

/* The longest prefix of s[0, len) of at most max bytes that ends on a
 * character boundary. */
size_t flue_utf8_cut(const char *s, size_t len, size_t max);

/* How much of an input an error message quotes: at most FLUE_QUOTE_MAX
 * bytes, cut on a character boundary, followed by flue_quote_more()
 * ("..." when cut). */
#define FLUE_QUOTE_MAX 60
int flue_quote_len(const char *s, size_t len);
const char *flue_quote_more(size_t len);

#endif

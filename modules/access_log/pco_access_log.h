/*
 * pco_access_log.h: the pure helpers of the access_log module (no I/O, no allocation):
 * escaping a value for the text formats (combined and named formats) and for JSON lines.
 * Unit-tested in t/unit/test_access_log.c.
 */
#ifndef PCO_ACCESS_LOG_H
#define PCO_ACCESS_LOG_H

#include "pco_core.h"

/* Worst-case growth of one input byte. */
#define PCO_ACCESS_LOG_TEXT_MAX  4   /* "\xHH" */
#define PCO_ACCESS_LOG_JSON_MAX  6   /* "\u00XX" */

/*
 * Copies src[0..len) to dst escaping '"', '\\', bytes below 0x20 and from 0x7f as \xHH
 * (lowercase hex). dst must hold len * PCO_ACCESS_LOG_TEXT_MAX bytes. Returns the bytes
 * written. Never blocks.
 */
size_t pco_access_log_escape(u_char *dst, const u_char *src, size_t len);

/*
 * Copies src[0..len) to dst as the inside of a JSON string (no quotes): \" \\ \n \r \t,
 * \u00XX for other control characters and DEL, valid UTF-8 sequences copied as they are,
 * each byte of an invalid sequence as \u00XX (so Latin-1 bytes decode as their code point).
 * dst must hold len * PCO_ACCESS_LOG_JSON_MAX bytes. Returns the bytes written.
 */
size_t pco_access_log_json_escape(u_char *dst, const u_char *src, size_t len);

/*
 * Writes a value holding one entry per upstream try, joined by ", " ($upstream_status is
 * "502, 200"), as a JSON array: an entry that is a number unquoted, "-" (no response) as
 * null, anything else as an escaped string: [502,200], ["10.0.0.1:80","10.0.0.2:80"],
 * [null,200]. dst must hold PCO_ACCESS_LOG_JSON_LIST_MAX(len) bytes. Returns the length.
 */
#define PCO_ACCESS_LOG_JSON_LIST_MAX(len)  ((len) * 8 + 8)
size_t pco_access_log_json_list(u_char *dst, const u_char *src, size_t len);

/*
 * Splits one access_log.fields entry, "VAR", "$VAR" or "KEY=VAR", into the JSON key (VAR
 * when not given) and the variable name. A key is 1 to 64 letters, digits, '_', '-' or '.'
 * (so it never needs escaping); a variable name is letters, digits and '_'. Returns NULL,
 * or what is wrong.
 */
#define PCO_ACCESS_LOG_KEY_MAX  64
const char *pco_access_log_field_parse(const u_char *s, size_t len, pco_str_t *key,
                                       pco_str_t *var);

/* True when s is a JSON number as our variables print them: digits with an optional
 * fraction ("200", "0.123"), optionally negative. */
bool pco_access_log_is_number(const u_char *s, size_t len);

#endif

/*
 * pco_http_error.c: status reason phrases and the built-in error pages (plain text, or JSON
 * when the client accepts application/json) carrying the status and the request id, never
 * an internal address.
 */
#include "pco_http_int.h"
#include <stdio.h>

pco_str_t
pco_http_status_reason(int status)
{
    static const struct { int code; const char *text; } reasons[] = {
        { 100, "Continue" }, { 101, "Switching Protocols" },
        { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
        { 206, "Partial Content" },
        { 301, "Moved Permanently" }, { 302, "Found" }, { 303, "See Other" },
        { 304, "Not Modified" }, { 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
        { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
        { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
        { 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
        { 411, "Length Required" }, { 412, "Precondition Failed" },
        { 413, "Content Too Large" }, { 414, "URI Too Long" },
        { 415, "Unsupported Media Type" }, { 416, "Range Not Satisfiable" },
        { 417, "Expectation Failed" }, { 421, "Misdirected Request" },
        { 426, "Upgrade Required" }, { 429, "Too Many Requests" },
        { 431, "Request Header Fields Too Large" }, { 499, "Client Closed Request" },
        { 500, "Internal Server Error" }, { 501, "Not Implemented" }, { 502, "Bad Gateway" },
        { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
        { 505, "HTTP Version Not Supported" },
    };
    pco_str_t  s = pco_string("");
    size_t     i;

    for (i = 0; i < pco_nelems(reasons); i++) {
        if (reasons[i].code == status) {
            s.data = (u_char *) reasons[i].text;
            s.len = strlen(reasons[i].text);
            break;
        }
    }
    return s;
}

pco_str_t
pco_http_build_error_body(pco_pool_t *pool, int status, const pco_str_t *rid, bool json)
{
    pco_str_t  reason = pco_http_status_reason(status), out = pco_string("");
    size_t     size = reason.len + rid->len + 96;
    int        n;

    out.data = pco_pnalloc(pool, size);
    if (out.data == NULL) {
        out.len = 0;
        return out;
    }
    if (json) {
        n = snprintf((char *) out.data, size,
                     "{\"status\":%d,\"error\":\"%.*s\",\"request_id\":\"%.*s\"}\n", status,
                     (int) reason.len, (char *) reason.data, (int) rid->len,
                     (char *) rid->data);
    } else {
        n = snprintf((char *) out.data, size, "%d %.*s\nrequest_id: %.*s\n", status,
                     (int) reason.len, (char *) reason.data, (int) rid->len,
                     (char *) rid->data);
    }
    out.len = n > 0 ? (size_t) n : 0;
    return out;
}

int
pco_http_special_response(pco_http_request_t *r, int status)
{
    static const pco_str_t    text = pco_string("text/plain; charset=utf-8");
    static const pco_str_t    json = pco_string("application/json");
    pco_http_header_t        *acc;
    bool                      is_json = false;
    pco_str_t                 body;

    if (r->head.nheaders) {
        acc = pco_http_head_find(&r->head, "Accept", 6);
        if (acc != NULL && memmem(acc->value.data, acc->value.len, "application/json", 16)) {
            is_json = true;
        }
    }
    r->error_page = 1;
    r->out.nheaders = 0;
    r->out.location.len = 0;
    r->out.last_modified = -1;
    r->out.status_line.len = 0;
    if (status == 405) {
        static const pco_str_t allow = pco_string("Allow");
        static const pco_str_t methods = pco_string("GET, HEAD, POST, PUT, DELETE, OPTIONS, "
                                                    "PATCH");

        (void) pco_http_set_header(r, &allow, &methods, true);
    }
    body = pco_http_build_error_body(r->pool, status, &r->request_id, is_json);
    return pco_http_send_response(r, status, is_json ? &json : &text, &body);
}

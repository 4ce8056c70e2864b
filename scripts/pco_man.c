/*
 * pco_man.c: writes the portico(8) manual page. Built by objs/Makefile as objs/portico-man
 * against objs/libportico.a and run as `objs/portico-man docs/portico.8.in > objs/portico.8`.
 *
 * The template holds the hand-written sections; "@NAME@" words are replaced by this build's
 * values (version, prefix, compiled-in paths, user) and a line "@SETTINGS@" by the settings
 * reference. That reference is not written from the tables a second time: it is the Markdown
 * that pco_conf_write_docs() produces for docs/settings.md (`make docs`), turned into roff
 * line by line, so the two can never disagree (t/install.t compares them). A build with
 * other compiled-in paths shows its own defaults in both.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include "pco_module.h"
#include <stdio.h>
#include <stdlib.h>

#define PCO_MAN_CELLS  5          /* setting | scopes | type | default | help */

/* Roff text: backslashes escaped, `code` in bold, "\|" of Markdown back to "|". */
static void
pco_man_text(FILE *out, const char *s, size_t n)
{
    bool    code = false;
    size_t  i;

    if (n > 0 && (s[0] == '.' || s[0] == '\'')) {
        fputs("\\&", out);           /* not a roff request */
    }
    for (i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == '|') {
            fputc('|', out);
            i++;
        } else if (s[i] == '\\') {
            fputs("\\e", out);
        } else if (s[i] == '`') {
            fputs(code ? "\\fR" : "\\fB", out);
            code = !code;
        } else if (s[i] == '-') {
            fputs("\\-", out);
        } else {
            fputc(s[i], out);
        }
    }
    if (code) {
        fputs("\\fR", out);
    }
}

/* Splits a Markdown table row "| a | b | ... |" at the "|" that are not escaped. */
static int
pco_man_cells(const char *line, const char **cell, size_t *len)
{
    const char  *p = line + 1, *start;
    int          n = 0;

    while (*p != '\0' && n < PCO_MAN_CELLS) {
        while (*p == ' ') {
            p++;
        }
        start = p;
        while (*p != '\0' && !(*p == '|' && p[-1] != '\\')) {
            p++;
        }
        if (*p != '|') {
            break;
        }
        cell[n] = start;
        len[n] = (size_t) (p - start);
        while (len[n] > 0 && start[len[n] - 1] == ' ') {
            len[n]--;
        }
        n++;
        p++;
    }
    return n;
}

static void
pco_man_settings(FILE *out, char *md)
{
    const char  *cell[PCO_MAN_CELLS];
    size_t       len[PCO_MAN_CELLS];
    char        *line, *next;

    for (line = md; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (strncmp(line, "## ", 3) == 0) {
            fprintf(out, ".SS \"module %s\"\n", line + 3);
            continue;
        }
        if (line[0] != '|' || strncmp(line, "| setting |", 11) == 0
            || strncmp(line, "|---", 4) == 0
            || pco_man_cells(line, cell, len) != PCO_MAN_CELLS)
        {
            continue;          /* the title, the note and the table heads */
        }
        fputs(".TP\n", out);
        pco_man_text(out, cell[0], len[0]);
        fputs("\n", out);
        if (len[1] > 0) {
            fputs("scopes: ", out);
            pco_man_text(out, cell[1], len[1]);
            fputs("; ", out);
        }
        fputs("type: ", out);
        pco_man_text(out, cell[2], len[2]);
        if (len[3] > 0) {
            fputs("; default: ", out);
            pco_man_text(out, cell[3], len[3]);
        }
        fputs("\n", out);
        if (len[4] > 0) {
            fputs(".br\n", out);
            pco_man_text(out, cell[4], len[4]);
            fputs("\n", out);
        }
    }
}

/* A compiled-in path as the running program resolves it: relative ones under the prefix. */
static void
pco_man_path(FILE *out, const char *path)
{
    if (path[0] != '/') {
        pco_man_text(out, PCO_PREFIX, strlen(PCO_PREFIX));
    }
    pco_man_text(out, path, strlen(path));
}

static void
pco_man_line(FILE *out, const char *line)
{
    static const struct {
        const char  *name;
        const char  *value;
        bool         path;
    } vars[] = {
        { "@VERSION@", PCO_VERSION_STR, false },
        { "@PREFIX@", PCO_PREFIX, false },
        { "@SBIN_PATH@", PCO_SBIN_PATH, true },
        { "@CONF_PATH@", PCO_CONF_PATH, true },
        { "@MIME_TYPES_PATH@", PCO_MIME_TYPES_PATH, true },
        { "@ERROR_LOG_PATH@", PCO_ERROR_LOG_PATH, true },
        { "@HTTP_LOG_PATH@", PCO_HTTP_LOG_PATH, true },
        { "@PID_PATH@", PCO_PID_PATH, true },
        { "@CACHE_PATH@", PCO_CACHE_PATH, true },
        { "@USER@", PCO_USER, false },
    };
    const char  *p = line, *at;
    size_t       i, n;

    while ((at = strchr(p, '@')) != NULL) {
        fwrite(p, 1, (size_t) (at - p), out);
        for (i = 0; i < pco_nelems(vars); i++) {
            n = strlen(vars[i].name);
            if (strncmp(at, vars[i].name, n) == 0) {
                break;
            }
        }
        if (i == pco_nelems(vars)) {
            fputc('@', out);
            p = at + 1;
            continue;
        }
        if (vars[i].path) {
            pco_man_path(out, vars[i].value);
        } else {
            pco_man_text(out, vars[i].value, strlen(vars[i].value));
        }
        p = at + n;
    }
    fputs(p, out);
}

int
main(int argc, char **argv)
{
    char    buf[4096], *md = NULL;
    size_t  md_len = 0;
    FILE   *tpl, *mem;

    if (argc != 2) {
        fprintf(stderr, "usage: %s TEMPLATE > portico.8\n", argv[0]);
        return 1;
    }
    tpl = fopen(argv[1], "r");
    if (tpl == NULL) {
        fprintf(stderr, "%s: cannot open %s: %s\n", argv[0], argv[1], strerror(errno));
        return 1;
    }
    if (pco_modules_init() != PCO_OK) {
        return 1;
    }
    mem = open_memstream(&md, &md_len);
    if (mem == NULL) {
        return 1;
    }
    pco_conf_write_docs(mem);
    fclose(mem);

    while (fgets(buf, sizeof(buf), tpl) != NULL) {
        if (strcmp(buf, "@SETTINGS@\n") == 0) {
            pco_man_settings(stdout, md);
        } else {
            pco_man_line(stdout, buf);
        }
    }
    fclose(tpl);
    free(md);
    return ferror(stdout) ? 1 : 0;
}

#!/usr/bin/env python3
"""prom_strict.py: a strict parser of the Prometheus text exposition format 0.0.4, for the
tests (t/metrics_*.t). Reads the document on stdin (or from the file named by the first
argument) and prints one JSON object:
    {"errors": [...], "types": {family: type}, "samples": {key: value}}
where key is NAME{l1="v1",l2="v2"} with the labels sorted by name and the values unescaped
(NAME{} without labels). Exit status 0 when there is no error, 1 otherwise.

Checked, beyond what a lenient scraper accepts:
  - every line is a HELP, a TYPE or a sample; the document ends with a newline;
  - each family has exactly one HELP then one TYPE, both before its samples, and its samples
    are contiguous (no family is reopened);
  - metric and label names are valid, no label name starts with "__", no label repeats in
    a sample, label values use only the escapes \\\\ \\" \\n, HELP text only \\\\ and \\n;
  - values are numbers (or +Inf, -Inf, NaN); no series appears twice;
  - counters are named *_total, gauges and histograms are not; a counter or gauge sample
    carries the family name; a histogram has only _bucket/_sum/_count samples, every label
    set has le buckets in increasing order that are cumulative, end with le="+Inf", and that
    bucket equals _count; _sum is present; every value of a counter or histogram is >= 0.
"""
import json
import math
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
TYPES = ('counter', 'gauge', 'histogram', 'summary', 'untyped')


def parse_value(v):
    if v in ('+Inf', 'Inf'):
        return math.inf
    if v == '-Inf':
        return -math.inf
    if v == 'NaN':
        return math.nan
    if not re.match(r'[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z', v):
        raise ValueError(v)
    return float(v)


def parse_labels(text, errors, line):
    """The {...} content into [(name, value)], or None (an error is recorded)."""
    labels = []
    i = 0
    while i < len(text):
        m = LABEL.match(text, i)
        if m is None:
            errors.append('bad label name: ' + line)
            return None
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            errors.append('bad label (no ="): ' + line)
            return None
        i += 2
        value = []
        while True:
            if i >= len(text):
                errors.append('unterminated label value: ' + line)
                return None
            ch = text[i]
            if ch == '"':
                i += 1
                break
            if ch == '\\':
                nxt = text[i + 1:i + 2]
                if nxt not in ('\\', '"', 'n'):
                    errors.append('bad escape in a label value: ' + line)
                    return None
                value.append('\n' if nxt == 'n' else nxt)
                i += 2
                continue
            if ch == '\n':
                errors.append('raw newline in a label value: ' + line)
                return None
            value.append(ch)
            i += 1
        if name.startswith('__'):
            errors.append('reserved label name %s: %s' % (name, line))
        if any(n == name for n, _ in labels):
            errors.append('label %s twice: %s' % (name, line))
        labels.append((name, ''.join(value)))
        if i == len(text):
            break
        if text[i] != ',':
            errors.append('bad label separator: ' + line)
            return None
        i += 1
    return labels


def key_of(name, labels):
    return name + '{' + ','.join('%s="%s"' % (n, v) for n, v in sorted(labels)) + '}'


def split_sample(line):
    """NAME[{labels}] VALUE [TIMESTAMP] -> (name, labels text or None, value) or None."""
    m = re.match(r'([^{\s]+)', line)
    if m is None:
        return None
    name = m.group(1)
    rest = line[m.end():]
    lab = None
    if rest.startswith('{'):
        # the closing brace: the first } outside a quoted value
        i, quoted = 1, False
        while i < len(rest):
            c = rest[i]
            if quoted and c == '\\':
                i += 2
                continue
            if c == '"':
                quoted = not quoted
            elif c == '}' and not quoted:
                break
            i += 1
        if i >= len(rest):
            return None
        lab = rest[1:i]
        rest = rest[i + 1:]
    parts = rest.split(' ')
    if len(parts) not in (2, 3) or parts[0] != '':
        return None
    return name, lab, parts[1]


def family_of(name, types):
    if name in types:
        return name, ''
    for sfx in ('_bucket', '_sum', '_count'):
        if name.endswith(sfx) and name[:-len(sfx)] in types:
            return name[:-len(sfx)], sfx
    return None, None


def check(text):
    errors, types, helps, samples = [], {}, {}, {}
    closed, current = set(), None
    hist = {}                  # family -> label-set key -> {'le': [(le, v)], 'count', 'sum'}
    if not text.endswith('\n'):
        errors.append('no trailing newline')
    for line in text.split('\n')[:-1] if text.endswith('\n') else text.split('\n'):
        if line.startswith('# HELP '):
            parts = line[7:].split(' ', 1)
            name = parts[0]
            if not NAME.match(name):
                errors.append('bad family name: ' + line)
            if name in helps:
                errors.append('HELP twice for ' + name)
            if name in types:
                errors.append('HELP after TYPE for ' + name)
            if len(parts) > 1 and re.search(r'\\[^\\n]', parts[1]):
                errors.append('bad escape in HELP: ' + line)
            helps[name] = parts[1] if len(parts) > 1 else ''
            if current is not None and current != name:
                closed.add(current)
            if name in closed:
                errors.append('family reopened: ' + name)
            current = name
            continue
        if line.startswith('# TYPE '):
            parts = line[7:].split(' ')
            if len(parts) != 2 or parts[1] not in TYPES:
                errors.append('bad TYPE line: ' + line)
                continue
            name, typ = parts
            if name in types:
                errors.append('TYPE twice for ' + name)
            if name not in helps:
                errors.append('TYPE without a HELP before it: ' + name)
            if current != name:
                errors.append('TYPE not right after its HELP: ' + name)
            types[name] = typ
            if typ == 'counter' and not name.endswith('_total'):
                errors.append('counter not named *_total: ' + name)
            if typ != 'counter' and name.endswith('_total'):
                errors.append('%s named *_total: %s' % (typ, name))
            continue
        if line.startswith('#') or line == '':
            errors.append('stray line: %r' % line)
            continue
        parsed = split_sample(line)
        if parsed is None:
            errors.append('bad sample line: ' + line)
            continue
        name, lab, value = parsed
        if not NAME.match(name):
            errors.append('bad metric name: ' + line)
            continue
        try:
            v = parse_value(value)
        except ValueError:
            errors.append('bad value: ' + line)
            continue
        fam, sfx = family_of(name, types)
        if fam is None:
            errors.append('sample before its TYPE: ' + line)
            continue
        if fam != current or fam in closed:
            errors.append('sample outside its family block: ' + line)
        typ = types[fam]
        if sfx and typ != 'histogram':
            errors.append('suffixed sample of a %s: %s' % (typ, line))
        if typ == 'histogram' and not sfx:
            errors.append('histogram sample without a suffix: ' + line)
        if typ in ('counter', 'histogram') and not v >= 0:
            errors.append('negative or NaN %s value: %s' % (typ, line))
        labels = parse_labels(lab, errors, line) if lab else []
        if labels is None:
            continue
        key = key_of(name, labels)
        if key in samples:
            errors.append('duplicate series: ' + key)
        samples[key] = v
        if typ == 'histogram':
            le = [lv for ln, lv in labels if ln == 'le']
            rest = [(ln, lv) for ln, lv in labels if ln != 'le']
            set_key = key_of('', rest)
            h = hist.setdefault(fam, {}).setdefault(set_key, {'le': []})
            if sfx == '_bucket':
                if len(le) != 1:
                    errors.append('bucket without le: ' + line)
                    continue
                try:
                    h['le'].append((parse_value(le[0]), v, le[0]))
                except ValueError:
                    errors.append('bad le: ' + line)
            elif le:
                errors.append('le on a %s sample: %s' % (sfx, line))
            else:
                h[sfx] = v
    for fam, sets in hist.items():
        for set_key, h in sets.items():
            what = fam + set_key
            b = h['le']
            if not b:
                errors.append('histogram without buckets: ' + what)
                continue
            for i in range(1, len(b)):
                if not b[i][0] > b[i - 1][0]:
                    errors.append('le not increasing: ' + what)
                if b[i][1] < b[i - 1][1]:
                    errors.append('buckets not cumulative: ' + what)
            if b[-1][2] != '+Inf':
                errors.append('last bucket is not le="+Inf": ' + what)
            if '_count' not in h:
                errors.append('no _count: ' + what)
            elif h['_count'] != b[-1][1]:
                errors.append('+Inf bucket != _count: ' + what)
            if '_sum' not in h:
                errors.append('no _sum: ' + what)
    for name in helps:
        if name not in types:
            errors.append('HELP without TYPE: ' + name)
    return errors, types, samples


def main():
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding='utf-8') as f:
            text = f.read()
    else:
        text = sys.stdin.read()
    errors, types, samples = check(text)
    out = {'errors': errors, 'types': types,
           'samples': {k: (v if math.isfinite(v) else str(v)) for k, v in samples.items()}}
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())

"""Rewrite a WebAssembly text module: every `f32x4.mul` directly followed by `f32x4.add`
becomes `f32x4.relaxed_madd` (x*y + acc). The stack holds [acc, x, y] at the mul, so three
new v128 locals per touched function reorder it to [x, y, acc] (free once V8 optimises).
Usage: python3 fuse_mul_add.py in.wat out.wat"""
import re, sys
src, dst = sys.argv[1], sys.argv[2]
FUNC = re.compile(r'^  \(func ')
# pass 1: which functions have adjacent mul/add
pairs = {}
cur = None; prev = ''
with open(src) as f:
    for line in f:
        if FUNC.match(line): cur = line; pairs.setdefault(cur, 0)
        s = line.strip()
        if s == 'f32x4.add' and prev == 'f32x4.mul' and cur is not None: pairs[cur] += 1
        prev = s
need = {k for k, v in pairs.items() if v}
print('functions with pairs', len(need), 'pairs', sum(pairs.values()), file=sys.stderr)
def count_types(text, kw):
    n = 0
    for m in re.finditer(r'\(' + kw + r'((?:\s+(?:\$\S+\s+)?(?:i32|i64|f32|f64|v128|funcref|externref))+)\)', text):
        n += len(re.findall(r'\b(?:i32|i64|f32|f64|v128|funcref|externref)\b', m.group(1)))
    return n
out = open(dst, 'w')
with open(src) as f:
    lines = iter(f)
    pending = None  # buffered 'f32x4.mul' line
    in_need = False; header_done = True; nlocals = 0; base = 0
    for line in lines:
        if FUNC.match(line):
            in_need = line in need
            nlocals = count_types(line, 'param'); header_done = False
            out.write(line); continue
        if in_need and not header_done:
            if line.startswith('    (local'):
                nlocals += count_types(line, 'local'); out.write(line); continue
            out.write('    (local v128 v128 v128)\n'); base = nlocals; header_done = True
        s = line.strip()
        if pending is not None:
            if s == 'f32x4.add' and in_need:
                ind = pending[:len(pending) - len(pending.lstrip())]
                a, b, c = base, base + 1, base + 2
                # stack [acc, x, y] -> relaxed_madd(x, y, acc) = x*y + acc
                for op in (f'local.set {b}', f'local.set {a}', f'local.set {c}', f'local.get {a}', f'local.get {b}', f'local.get {c}', 'f32x4.relaxed_madd'):
                    out.write(ind + op + '\n')
                pending = None; continue
            out.write(pending); pending = None
        if s == 'f32x4.mul' and in_need:
            pending = line; continue
        out.write(line)
    if pending: out.write(pending)
out.close()

# Attribute objects that are new in snapshot B (ids absent from A) to their retainers.
import json, sys, collections
def load(path):
    d = json.load(open(path))
    return d
A = load(sys.argv[1]); B = load(sys.argv[2]); n = float(sys.argv[3])
meta = B['snapshot']['meta']; nf = meta['node_fields']; nt = meta['node_types'][0]
ef = meta['edge_fields']; et = meta['edge_types'][0]
NF, EF = len(nf), len(ef)
ti, ni, ii, si, eci = nf.index('type'), nf.index('name'), nf.index('id'), nf.index('self_size'), nf.index('edge_count')
aids = set(A['nodes'][ii::NF])
nodes = B['nodes']; edges = B['edges']; S = B['strings']
count = len(nodes)//NF
new = [nodes[k*NF+ii] not in aids for k in range(count)]
def label(k):
    t = nt[nodes[k*NF+ti]]; name = S[nodes[k*NF+ni]]
    if t in ('string','concatenated string','sliced string'): return '(string)'
    if t == 'closure': return 'fn:' + name[:30]
    if t == 'hidden' and name.startswith('system / Context'): return 'Context'
    if t in ('array', 'hidden', 'native', 'code', 'object shape'): return f'({t}){name[:40]}'
    if t == 'number': return '(num)'
    return name[:40]
# retainers
ret = collections.defaultdict(list)
e = 0
for k in range(count):
    ec = nodes[k*NF+eci]
    for j in range(ec):
        typ = et[edges[e]]; nm = edges[e+1]; to = edges[e+2]//NF
        e += EF
        if typ in ('weak', 'shortcut'): continue
        if new[to]:
            en = S[nm] if typ in ('context','property','internal','shortcut') else f'[{nm}]'
            ret[to].append((k, typ, en))
groups = collections.defaultdict(lambda: [0, 0])
for k in range(count):
    if not new[k]: continue
    rs = ret.get(k, [])
    # Prefer a retainer that is itself new (per-channel), else any.
    rs2 = [r for r in rs if new[r[0]]] or rs
    if rs2:
        o, typ, en = rs2[0]
        owner = f'{label(o)}.{en}' + (f' (+{len(rs)-1})' if len(rs) > 1 else '')
    else:
        owner = '(no retainer)'
    key = f'{label(k):45s} <- {owner}'
    g = groups[key]; g[0] += 1; g[1] += nodes[k*NF+si]
rows = sorted(groups.items(), key=lambda kv: -kv[1][1])
tot = sum(v[1] for _, v in rows)
print(f'new objects: {sum(v[0] for _,v in rows)/n:.1f}/ch, {tot/n:.0f} B/ch')
for key, (c, s) in rows[:int(sys.argv[4]) if len(sys.argv) > 4 else 120]:
    if s/n < 8: continue
    print(f'{s/n:8.1f} B/ch {c/n:6.2f}/ch  {key}')

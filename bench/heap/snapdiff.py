import json, sys, collections
def load(path):
    d = json.load(open(path))
    meta = d['snapshot']['meta']
    nf = meta['node_fields']; nt = meta['node_types'][0]
    N = len(nf); nodes = d['nodes']; strings = d['strings']
    ti, ni, si, ei = nf.index('type'), nf.index('name'), nf.index('self_size'), nf.index('edge_count')
    agg = collections.defaultdict(lambda: [0, 0])
    for i in range(0, len(nodes), N):
        t = nt[nodes[i+ti]]; name = strings[nodes[i+ni]]
        if t in ('string', 'concatenated string', 'sliced string'): name = '(string)'
        elif t == 'number': name = '(heap number)'
        elif t == 'code': name = '(code)'
        elif t == 'array': name = '(array) ' + name[:40]
        elif t == 'hidden': name = '(hidden) ' + name[:50]
        elif t == 'closure': name = '(closure) ' + name[:40]
        elif t == 'object shape': name = '(shape)'
        elif t == 'native': name = '(native) ' + name[:40]
        else: name = f'({t}) ' + name[:60] if t != 'object' else name[:60]
        a = agg[name]; a[0] += 1; a[1] += nodes[i+si]
    return agg
a = load(sys.argv[1]); b = load(sys.argv[2]); n = float(sys.argv[3])
rows = []
for k in set(a) | set(b):
    ca, sa = a.get(k, [0, 0]); cb, sb = b.get(k, [0, 0])
    rows.append((sb - sa, cb - ca, k))
rows.sort(reverse=True)
tot = sum(r[0] for r in rows)
print(f'total self-size delta {tot} B = {tot/n:.0f} B per channel')
for ds, dc, k in rows[:int(sys.argv[4]) if len(sys.argv) > 4 else 60]:
    print(f'{ds/n:9.1f} B/ch  {dc/n:7.2f} obj/ch  {k}')

# Dominator tree of snapshot B; objects new since A grouped by their top per-channel dominator.
import json, sys, collections
sys.setrecursionlimit(10000)
A = json.load(open(sys.argv[1])); B = json.load(open(sys.argv[2])); n = float(sys.argv[3])
meta = B['snapshot']['meta']; nf = meta['node_fields']; nt = meta['node_types'][0]
et = meta['edge_types'][0]; NF, EF = len(nf), len(meta['edge_fields'])
ti, ni, ii, si, eci = [nf.index(x) for x in ('type','name','id','self_size','edge_count')]
nodes, edges, S = B['nodes'], B['edges'], B['strings']
N = len(nodes)//NF
aids = set(A['nodes'][ii::NF])
new = [nodes[k*NF+ii] not in aids for k in range(N)]
succ = [[] for _ in range(N)]; ename = {}
e = 0
for k in range(N):
    for j in range(nodes[k*NF+eci]):
        typ = et[edges[e]]; nm = edges[e+1]; to = edges[e+2]//NF; e += EF
        if typ == 'weak': continue
        succ[k].append(to)
        if new[to] and not new[k] and to not in ename:
            ename[to] = S[nm] if typ in ('context','property','internal','shortcut') else f'[{nm}]'
# iterative DFS postorder from root 0
order = []; seen = [False]*N; stack = [(0, 0)]; seen[0] = True
while stack:
    v, i = stack[-1]
    if i < len(succ[v]):
        stack[-1] = (v, i+1); w = succ[v][i]
        if not seen[w]: seen[w] = True; stack.append((w, 0))
    else:
        order.append(v); stack.pop()
po = [-1]*N
for i, v in enumerate(order): po[v] = i
preds = [[] for _ in range(N)]
for v in order:
    for w in succ[v]: preds[w].append(v)
idom = [-1]*N; idom[0] = 0
rpo = order[::-1]
def intersect(a, b):
    while a != b:
        while po[a] < po[b]: a = idom[a]
        while po[b] < po[a]: b = idom[b]
    return a
changed = True
while changed:
    changed = False
    for v in rpo[1:]:
        new_idom = -1
        for p in preds[v]:
            if idom[p] != -1:
                new_idom = p if new_idom == -1 else intersect(p, new_idom)
        if new_idom != idom[v]: idom[v] = new_idom; changed = True
def label(k):
    t = nt[nodes[k*NF+ti]]; name = S[nodes[k*NF+ni]]
    if t in ('string','concatenated string','sliced string'): return '(string)'
    if t == 'closure': return 'fn:' + name[:30]
    if t == 'hidden' and name.startswith('system / Context'): return 'Context'
    if t in ('array','hidden','native','code','object shape'): return f'({t}){name[:40]}'
    if t == 'number': return '(num)'
    return name[:40]
# retained sizes
ret = [nodes[k*NF+si] for k in range(N)]
for v in order:  # postorder: children before parents
    if v != 0 and idom[v] not in (-1, v): ret[idom[v]] += ret[v]
# top per-channel dominators: new nodes whose idom is old
tops = collections.defaultdict(lambda: [0, 0])
for k in range(N):
    if new[k] and idom[k] != -1 and not new[idom[k]]:
        key = f'{label(k)}  (held by {label(idom[k])}.{ename.get(k, "?")})'
        tops[key][0] += 1; tops[key][1] += ret[k]
tot = sum(v[1] for v in tops.values())
print(f'retained by per-channel tops: {tot/n:.0f} B/ch')
for key, (c, s) in sorted(tops.items(), key=lambda kv: -kv[1][1])[:40]:
    if s/n >= 10: print(f'{s/n:8.1f} B/ch {c/n:5.2f}/ch  {key}')
# Detail: for chosen classes, retained size split by child label (what each holds)
want = sys.argv[4].split(',') if len(sys.argv) > 4 else []
kids = collections.defaultdict(list)
for k in range(N):
    if new[k] and idom[k] != -1: kids[idom[k]].append(k)
for w in want:
    members = [k for k in range(N) if new[k] and label(k) == w]
    if not members: continue
    agg = collections.defaultdict(lambda: [0, 0])
    selfs = sum(nodes[k*NF+si] for k in members)
    for m in members:
        for c in kids[m]:
            agg[label(c)][0] += 1; agg[label(c)][1] += ret[c]
    print(f'\n{w}: {len(members)/n:.2f}/ch, self {selfs/len(members):.0f} B, retained {sum(ret[k] for k in members)/len(members):.0f} B each; dominated children:')
    for key, (c, s) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:15]:
        print(f'   {s/len(members):8.1f} B  {c/len(members):5.2f}x  {key}')

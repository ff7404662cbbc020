# For new Objects in B holding an out-of-object property array: their property names.
import json, sys, collections
A = json.load(open(sys.argv[1])); B = json.load(open(sys.argv[2])); n = float(sys.argv[3])
meta = B['snapshot']['meta']; nf = meta['node_fields']; nt = meta['node_types'][0]
et = meta['edge_types'][0]; NF, EF = len(nf), len(meta['edge_fields'])
ti, ni, ii, si, eci = [nf.index(x) for x in ('type','name','id','self_size','edge_count')]
nodes, edges, S = B['nodes'], B['edges'], B['strings']
N = len(nodes)//NF
aids = set(A['nodes'][ii::NF])
want = sys.argv[4]
groups = collections.Counter(); sizes = collections.Counter()
e = 0
for k in range(N):
    ec = nodes[k*NF+eci]
    names = []; props = 0
    for j in range(ec):
        typ = et[edges[e]]; nm = edges[e+1]; to = edges[e+2]//NF; e += EF
        if typ == 'property': names.append(S[nm])
        if typ == 'internal' and S[nm] == 'properties': props = nodes[to*NF+si]
    if nodes[k*NF+ii] in aids: continue
    if S[nodes[k*NF+ni]] != want: continue
    key = ','.join(names[:14]); groups[key] += 1; sizes[key] += nodes[k*NF+si] + props
for key, c in groups.most_common(20):
    print(f'{c/n:5.2f}/ch  {sizes[key]/c:6.0f} B (self+props)  {{{key}}}')

"""The passes every target runs (fusion groups, guards, the calling convention), and the
pieces they share: `base` (what a pass is), `structured` (reading linalg ops) and
`convolution` (a convolution in a generic). Target passes are under lowering/cpu and
lowering/cuda; compiler/registry.py lists them all."""

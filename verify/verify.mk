# verify/verify.mk - the verifier (included from Makefile.am).

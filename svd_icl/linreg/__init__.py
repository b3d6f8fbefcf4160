"""In-context linear regression (Garg et al., 2022), the setting of the paper's Appendix C.4 and Figure 5."""

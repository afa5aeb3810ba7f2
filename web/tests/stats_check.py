"""The experiment page's statistics computed independently with scipy and
numpy, for hanoi-web's `stats::tests::statistics_agree_with_scipy`.

Input (argv[1], JSON): `sets`, each two arms' per-unit totals (units not
listed have 0) and exposures; `srm`, observed exposures and shares. Output
(stdout, JSON): per set the difference of proportions with its Wald 95 %
interval and P(B > A) for Beta(1 + c, 1 + n - c) posteriors (numeric
integration), the Welch difference of means with its normal 95 % interval,
each arm's sample variance and Phi(diff / se); per SRM case scipy's
chi-square goodness of fit.
"""

import json
import sys

import numpy as np
from scipy import integrate, stats


def units(values, n):
    x = np.zeros(n, dtype=np.float64)
    x[: len(values)] = values
    return x


def chance_beta(ca, na, cb, nb):
    a = stats.beta(1 + ca, 1 + na - ca)
    b = stats.beta(1 + cb, 1 + nb - cb)
    # P(B > A) = integral of f_B(x) F_A(x) dx, split where B's mass is.
    lo, hi = b.ppf(1e-15), b.isf(1e-15)
    pts = list(np.linspace(lo, hi, 41)[1:-1])
    val, _ = integrate.quad(lambda x: b.pdf(x) * a.cdf(x), lo, hi, points=pts,
                            limit=500, epsabs=1e-13, epsrel=1e-12)
    # Above hi F_A(x) ~ 1 times B's tail; below lo nothing that matters.
    return val + b.sf(hi)


def main():
    data = json.loads(sys.argv[1])
    z = stats.norm.ppf(0.975)
    out = {"sets": [], "srm": []}
    for s in data["sets"]:
        a, b = units(s["a"], s["na"]), units(s["b"], s["nb"])
        ca, cb = int((a > 0).sum()), int((b > 0).sum())
        pa, pb = ca / len(a), cb / len(b)
        se = np.sqrt(pa * (1 - pa) / len(a) + pb * (1 - pb) / len(b))
        d = pb - pa
        rates = {"diff": d, "low": d - z * se, "high": d + z * se,
                 "chance": chance_beta(ca, len(a), cb, len(b))}
        va, vb = a.var(ddof=1), b.var(ddof=1)
        dm = b.mean() - a.mean()
        sem = np.sqrt(va / len(a) + vb / len(b))
        means = {"diff": dm, "low": dm - z * sem, "high": dm + z * sem,
                 "chance": stats.norm.cdf(dm / sem), "var_a": va, "var_b": vb}
        out["sets"].append({"rates": rates, "means": means})
    for c in data["srm"]:
        obs = np.array(c["observed"], dtype=np.float64)
        shares = np.array(c["shares"], dtype=np.float64)
        exp = obs.sum() * shares / shares.sum()
        chi2, p = stats.chisquare(obs, exp)
        # chi2.sf with k - 1 degrees of freedom, as the page uses it.
        assert abs(p - stats.chi2.sf(chi2, len(obs) - 1)) < 1e-15
        out["srm"].append({"chi2": chi2, "p": p})
    print(json.dumps(out, default=float))


main()

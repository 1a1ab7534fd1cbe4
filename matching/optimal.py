"""Optimal mode: the flow relaxation, clash repair, bounds, and an exact fallback.

1. Solve the flow relaxation (every hard constraint but clashes between two allocations).
   Its objective is an upper bound for the real problem.
2. Clashes both of whose arcs every maximum flow takes cost pairs no allocation keeps; when
   a minimum-cut argument certifies how many (matching/pairs.py), the Benchmark 8 network
   gives up that many, at least cost, and becomes the relaxation (and bound) from here on.
   Then every network is re-optimised whole with one side of each clash forbidden
   (`keep_pairs`): local repairs lose pairs and places a global change keeps. Sides
   forbidden early whose clash the flow has since left are reopened when that gains, and a
   clash swaps which side is forbidden when the other costs less by then. (Measured on
   rounds whose clashes cost no pair: at 100,000 students 53 more placements than the local
   repair; of 775 small contested rounds, 460 better and 15 worse. On 9 of those 15 the
   global flow has fewer pairs, so the local repair's allocation is kept, as below.)
3. If that fails, or gives up a pair, the local repair runs too, and the better allocation is
   kept: while some student holds two allocations that overlap in time, forbid the one in
   the less scarce group and re-solve only a neighbourhood of the networks touched. Each
   pass forbids at least one arc, so this ends. (Measured: forbidding every clashing arc of
   the student at once, or keeping the other side, does no better.) A clash one of whose
   arcs every maximum flow takes drops the other.
4. If the clash-free objective equals the bound, it is optimal: proven.
5. The relaxation's duals price every offer; each clashing student's cheapest clash-free
   bundle at those prices lowers the bound by what it costs them (matching/prices.py): a
   Lagrangian bound that needs no search, so it holds on rounds of any size.
6. Otherwise a Lagrangian certificate (matching/lagrange.py) prices the clashes with the
   relaxation's own duals, and branches on those the prices cannot settle, tightening the
   bound and finding better clash-free allocations until the two meet or its budget runs
   out.
   Both bounds are read level by level (`flow.tighten`): placements that an allocation
   could reach only with more rank cost than its slots can cost are one fewer.
7. Still unproven rounds up to `exact_fallback_students` are solved exactly by CP-SAT,
   lexicographically, from the best allocation as a hint; larger ones report their gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from matching.clashes import find_clashes, repair
from matching.exact import solve_exact
from matching.flow import solve_relaxation
from matching.lagrange import certify
from matching.objective import Objective, value_of
from matching.pairs import fewer_pairs, keep_pairs, pair_loss
from matching.prices import price_bound
from matching.problem import BoolArray, Problem, Progress
from schemas import SolveOptions


@dataclass(frozen=True)
class Outcome:
    selected: BoolArray
    value: Objective
    bound: Objective
    proven: bool
    method: str


def solve_optimal(problem: Problem, options: SolveOptions, progress: Progress) -> Outcome:
    progress("flow relaxation", 0.0)
    root = solve_relaxation(problem, options.seed)
    relaxed = value_of(problem, root.selected)  # valid level by level
    bound = relaxed
    clashes = find_clashes(problem, root.selected)
    if not clashes:
        return Outcome(root.selected, bound, bound, True, "min-cost flow")
    loss = pair_loss(problem, root, clashes)
    top = root  # the maximum flow
    root_value = None
    method = "min-cost flow"
    if loss.lost:
        progress("pairs lost to clashes", 0.3)
        root, bound = fewer_pairs(problem, root, relaxed, loss.lost)
        root_value = bound
        method += f" + {loss.lost} pairs certified lost to clashes"
    progress("global re-optimisation", 0.35)
    selected = keep_pairs(problem, root, clashes, loss.prefer, options.seed)
    value = None if selected is None else value_of(problem, selected)
    settled = " + clashes settled by a global re-optimisation"
    if value is None or value[0] < bound[0]:  # it gave up pairs: the local repair may not
        progress("clash repair", 0.4)
        local, passes = repair(problem, top, options.seed, None, 1, loss.prefer)
        local_value = value_of(problem, local)
        if value is None or local_value > value:
            selected, value = local, local_value
            settled = f" + {passes} clash repair passes"
    assert selected is not None and value is not None
    method += settled
    if value == bound:
        return Outcome(selected, value, bound, True, method)
    priced = price_bound(problem, root, relaxed if root_value is None else root_value)
    if priced < bound:
        bound = priced
        method += " + offer-price bound"
        if value == bound:
            return Outcome(selected, value, bound, True, method)
    progress("Lagrangian certificate", 0.5)
    cert = certify(problem, root, selected, options.seed, options.certificate_effort, root_value)
    if cert.proven:
        return Outcome(cert.selected, cert.value, cert.value, True, method + " + " + cert.method)
    selected, value, bound = cert.selected, cert.value, min(bound, cert.bound)
    method += " + " + cert.method
    if value == bound:  # the certificate's allocation meets the offer-price bound
        return Outcome(selected, value, bound, True, method)
    if problem.n_students <= options.exact_fallback_students:
        progress("exact CP-SAT", 0.9)
        exact = solve_exact(
            problem, selected, options.seed, options.exact_deterministic_time, relaxed
        )
        if exact is not None:
            value = value_of(problem, exact)
            return Outcome(exact, value, value, True, method + " + exact CP-SAT")
    return Outcome(selected, value, bound, False, method)

# A simulator in plain Python (standard library only) for gosbi's external
# protocol: one JSON request per line on stdin, one JSON response per line on
# stdout. Model: a noisy exponential decay read at 10 times,
#   x_k = exp(-exp(log_rate) * t_k) + N(0, noise^2),  t_k = 0.5, 1.0, ..., 5.0.
import json, math, random, sys

TIMES = [0.5 * (k + 1) for k in range(10)]


def simulate(theta, rng):
    log_rate, noise = theta
    if noise <= 0:
        raise ValueError("noise must be positive, got %g" % noise)
    return [math.exp(-math.exp(log_rate) * t) + rng.gauss(0.0, noise) for t in TIMES]


for line in sys.stdin:
    request = json.loads(line)
    rng = random.Random(request["seed"])  # all randomness from the given seed
    try:
        print(json.dumps({"x": simulate(request["theta"], rng)}), flush=True)
    except Exception as e:  # reported to gosbi as a failed simulation
        print(json.dumps({"error": str(e)}), flush=True)

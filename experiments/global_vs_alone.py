"""Does one model trained on several series beat one model per series? Measured, on the same test points.

Trains every model of a global config once on all its series, then each series alone with the same
config, and prints rel_mae (MAE over the naive forecast's, on that series' own test span) side by side.

    python experiments/global_vs_alone.py [experiments/global.yaml] [KEY=VALUE ...]
"""

import dataclasses
import sys

import pandas as pd

import forecaster

path = sys.argv[1] if len(sys.argv) > 1 else "experiments/global.yaml"
config = forecaster.read_config(path, sys.argv[2:])
pooled = forecaster.run_global(config)

rows = []
for (label, part), source in zip(pooled.parts.items(), config.data.sources):
    alone = forecaster.run_experiment(dataclasses.replace(config, data=dataclasses.replace(config.data, source=source)))
    for name, run in part.runs.items():
        rows.append({"series": label, "model": name, "rel_mae_alone": alone.runs[name].metrics["rel_mae"],
                     "rel_mae_global": run.metrics["rel_mae"]})
table = pd.DataFrame(rows)
table["global_minus_alone"] = table["rel_mae_global"] - table["rel_mae_alone"]
print(table.to_string(index=False, float_format="{:.4f}".format))
print("\nrel_mae below 1 beats the naive forecast on that series; a negative difference: pooling helped.")

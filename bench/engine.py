"""Benchmark of the local Workflows engine: interpreted steps per second (prints JSON)."""

from __future__ import annotations

import json
import time

from dayflow.workflows_engine import FakeClock, WorkflowEngine

LOOP = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - total: 0
          - rows: []
    - loop:
        for:
          value: i
          range: [1, ${args.n}]
          steps:
            - add:
                assign:
                  - total: ${total + i * 2 - i // 3}
                  - rows: ${list.concat(rows, "2024-01-" + string(i % 28 + 1))}
            - check:
                switch:
                  - condition: ${total < 0}
                    raise: negative
    - done:
        return: ${len(rows)}
"""

PARALLEL = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - total: 0
    - fan_out:
        parallel:
          shared: [total]
          for:
            value: i
            range: [1, ${args.n}]
            steps:
              - add:
                  assign:
                    - total: ${total + i}
    - done:
        return: ${total}
"""


def _measure(engine: WorkflowEngine, workflow_id: str, n: int) -> dict[str, float]:
    started = time.perf_counter()
    execution = engine.run(workflow_id, {"n": n})
    seconds = time.perf_counter() - started
    assert execution.state == "SUCCEEDED", execution.error
    return {
        "steps": execution.steps,
        "seconds": round(seconds, 4),
        "steps_per_second": round(execution.steps / seconds),
    }


def main() -> None:
    engine = WorkflowEngine(clock=FakeClock())
    engine.deploy("loop", LOOP.replace("${args.n}]", '"${args.n}"]'))
    engine.deploy("parallel", PARALLEL.replace("${args.n}]", '"${args.n}"]'))
    results = {
        "sequential_loop": _measure(engine, "loop", 20_000),
        "parallel_for": _measure(engine, "parallel", 2_000),
    }
    engine.close()
    print(json.dumps({"benchmark": "workflows_engine", **results}))


if __name__ == "__main__":
    main()

/**
 * Deterministic simulation of the membership engine: the production {@linkcode SimCluster}
 * engines on a virtual clock and a seeded lossy network, plus the measurements the tests assert
 * and `deno task bench` prints.
 *
 * @example
 * ```ts
 * import { formatFigures, simulationFigures } from "./mod.ts";
 *
 * console.log(formatFigures(simulationFigures({ quick: true })));
 * ```
 *
 * @module
 */

export { SimCluster, type SimClusterOptions, type SimNode } from "./cluster.ts";
export {
  type DetectionFigures,
  type DetectionOptions,
  type DisseminationRow,
  type Distribution,
  distribution,
  type FalseDeadFigures,
  type FalseDeadOptions,
  formatFigures,
  measureConvergence,
  measureDetection,
  measureDissemination,
  measureFalseDead,
  type SimulationFigures,
  simulationFigures,
  type SimulationFiguresOptions,
} from "./figures.ts";
export { measureRealCluster, type RealClusterFigures, type RealClusterOptions } from "./real.ts";

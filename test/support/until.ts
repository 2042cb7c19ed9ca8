export { until } from "../../src/util/until.js";

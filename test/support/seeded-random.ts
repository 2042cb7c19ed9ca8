export { seededRandom } from "../../src/util/seeded-random.js";

// The daemon-cluster helpers live in src/lab/ so that the cluster soak (src/soak/) uses them too.
export * from "../../src/lab/daemon-cluster.js";

export { startNodeApi, type NodeApi, type NodeApiDeps, type NodeApiOptions } from "./start-node-api.js";

export * from "./resources.js";
export * from "./runner.js";
export * from "./stats.js";
export * from "./table.js";
export * from "./timing.js";

/** Filter, severity and throttle rules, and the decoding of their configuration. */
export * from "./pattern.ts"
export * from "./filter.ts"
export * from "./severity.ts"
export * from "./throttle.ts"
export * from "./config.ts"

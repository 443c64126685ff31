/** Types of build.mjs (plain JavaScript so that lib/launch.mjs can use it without a TypeScript loader). */
export declare function compiled(entry: string, options?: { ownLayers?: boolean }): Promise<string>;

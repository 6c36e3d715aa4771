import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { composeScene } from "../../../trainer/toyworld/compose";
import { conceptHardNegative } from "../../../trainer/toyworld/concept-data";
import { findConcept } from "../../../trainer/toyworld/concepts";
import { WORLD_VERSION } from "../../../trainer/toyworld/pool";
import { renderScene } from "../../../trainer/toyworld/render";

const digest = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex").slice(0, 16);

// Pools on disk, records and trained toy models all assume that a seed means the same picture forever.
// If one of these digests changes on purpose, bump WORLD_VERSION in pool.ts and update them together.
describe(`the world is pinned (${WORLD_VERSION})`, () => {
  it("scene graphs and pixels of a few seeds", () => {
    expect(WORLD_VERSION).toBe("toyworld-1");
    const scenes = [0, 1, 2, 3].map((seed) => composeScene({ seed }));
    expect(digest(JSON.stringify(scenes))).toBe("b83bef400d3a7162");
    expect(digest(Buffer.concat(scenes.map((s) => renderScene(s).data)))).toBe("1b018785c805f291");
    const hard = composeScene(conceptHardNegative(findConcept("<bo>"), 7).recipe);
    expect(digest(JSON.stringify(hard))).toBe("c6ca472bdd1a6b06");
    expect(digest(renderScene(hard, { size: 96 }).data)).toBe("a324d57220089925");
  });
});

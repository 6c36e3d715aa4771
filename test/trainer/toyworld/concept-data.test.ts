import { describe, expect, it } from "vitest";
import {
  conceptEasyNegative,
  conceptHardNegative,
  conceptPositive,
  conceptSamples,
  hardNegativeVariant,
  sampleScene,
} from "../../../trainer/toyworld/concept-data";
import {
  CONCEPT_KINDS,
  CONCEPTS,
  conceptDescription,
  conceptFacts,
} from "../../../trainer/toyworld/concepts";
import { Random } from "../../../trainer/toyworld/random";
import { IDENTITY_ATTRIBUTES, sameIdentity } from "../../../trainer/toyworld/scene";
import { NEAR_COLOURS, NEAR_SHAPES } from "../../../trainer/toyworld/vocabulary";

describe("concept catalogue", () => {
  it("has at least 20 distinct concepts with names, kinds, descriptions and facts", () => {
    expect(CONCEPTS.length).toBeGreaterThanOrEqual(20);
    expect(new Set(CONCEPTS.map((c) => c.name)).size).toBe(CONCEPTS.length);
    for (const [i, c] of CONCEPTS.entries()) {
      expect(c.name).toMatch(/^<[a-z]+>$/);
      expect(CONCEPT_KINDS).toContain(c.kind);
      for (const other of CONCEPTS.slice(i + 1)) expect(sameIdentity(c.identity, other.identity)).toBe(false);
      const description = conceptDescription(c);
      expect(description).toContain(c.name);
      expect(description).toContain(c.identity.colour);
      expect(description).toContain(c.identity.shape);
      const facts = Object.fromEntries(conceptFacts(c).map((f) => [f.attribute, f.short]));
      expect(facts).toEqual({ kind: c.kind, ...c.identity });
    }
  });
});

describe("hard negatives", () => {
  it("differ from the concept in exactly the declared attributes, each to a near value", () => {
    for (const concept of CONCEPTS) {
      for (let seed = 0; seed < 40; seed++) {
        const { identity, differs } = hardNegativeVariant(concept.identity, new Random(seed, concept.name));
        expect(differs.length === 1 || differs.length === 2).toBe(true);
        for (const a of IDENTITY_ATTRIBUTES) {
          expect(identity[a] !== concept.identity[a], `${concept.name} ${a} seed ${seed}`).toBe(
            differs.includes(a),
          );
        }
        if (differs.includes("colour"))
          expect(NEAR_COLOURS[concept.identity.colour]).toContain(identity.colour);
        if (differs.includes("shape")) expect(NEAR_SHAPES[concept.identity.shape]).toContain(identity.shape);
      }
    }
  });

  it("show the variant and never the concept itself", () => {
    const concept = CONCEPTS[0]!;
    for (let seed = 0; seed < 60; seed++) {
      const sample = conceptHardNegative(concept, seed);
      const scene = sampleScene(sample);
      expect(scene.objects.some((o) => sameIdentity(o, sample.variant!))).toBe(true);
      expect(scene.objects.some((o) => sameIdentity(o, concept.identity))).toBe(false);
    }
  });
});

describe("positives and easy negatives", () => {
  it("positives contain the concept once, in varied places, sizes and backgrounds", () => {
    const concept = CONCEPTS[1]!;
    const cells = new Set<string>();
    const sizes = new Set<string>();
    const backgrounds = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const scene = sampleScene(conceptPositive(concept, seed));
      const mine = scene.objects.filter((o) => sameIdentity(o, concept.identity));
      expect(mine).toHaveLength(1);
      expect(mine[0]!.concept).toBe(concept.name);
      cells.add(mine[0]!.cell);
      sizes.add(mine[0]!.size);
      backgrounds.add(scene.background);
    }
    expect(cells.size).toBe(9);
    expect(sizes.size).toBe(3);
    expect(backgrounds.size).toBeGreaterThanOrEqual(4);
  });

  it("easy negatives never contain the concept", () => {
    for (const concept of CONCEPTS.slice(0, 5)) {
      for (let seed = 0; seed < 30; seed++) {
        const scene = sampleScene(conceptEasyNegative(concept, seed));
        expect(scene.objects.some((o) => sameIdentity(o, concept.identity))).toBe(false);
      }
    }
  });

  it("conceptSamples labels, counts and seeds each group from its split", () => {
    const s = conceptSamples(CONCEPTS[2]!, "val", {
      positives: 3,
      hardNegatives: 4,
      easyNegatives: 2,
      offset: 10,
    });
    expect(s.positives.map((x) => x.label)).toEqual(["positive", "positive", "positive"]);
    expect(s.hardNegatives).toHaveLength(4);
    expect(s.easyNegatives.map((x) => x.seed)).toEqual([1_000_010, 1_000_011]);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});

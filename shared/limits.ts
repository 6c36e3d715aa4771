/**
 * Named limits shared by the edge and the trainer node. One place, so that the README, the validators and the
 * OpenAPI document agree. Sizes are bytes.
 */

/** Photos per training job: Yo'LLaVA learns a concept from a handful of photos. */
export const MIN_PHOTOS_PER_JOB = 1;
export const MAX_PHOTOS_PER_JOB = 10;

/** One uploaded photo (training or inference). Phone photos at ~12 MP JPEG fit. */
export const MAX_PHOTO_BYTES = 8 * 1024 * 1024;

/** Width x height of one photo; bounds the node's decode memory (a 40 MP RGBA decode is ~160 MB). */
export const MAX_PHOTO_PIXELS = 40_000_000;

/** Longest side of one photo, so a 1 x 40M strip cannot pass the pixel limit. */
export const MAX_PHOTO_SIDE = 12_000;

/** Images per POST /v1/recognize (a photo-roll batch). */
export const MAX_IMAGES_PER_RECOGNIZE = 16;

/** Images across all messages of one chat request. */
export const MAX_IMAGES_PER_CHAT = 4;

/** Characters of user text across all messages of one request. */
export const MAX_PROMPT_CHARS = 32_000;

/** Chat turns per request. */
export const MAX_MESSAGES = 64;

/** Concepts one tenant may own. */
export const MAX_CONCEPTS_PER_TENANT = 1_000;

/** Distinct <name> mentions resolved in one request (each adds k+2 rows to the prompt). */
export const MAX_CONCEPTS_PER_REQUEST = 8;

/** Latent tokens per concept (Yo'LLaVA uses 16). */
export const MIN_LATENT_TOKENS = 1;
export const MAX_LATENT_TOKENS = 64;
export const DEFAULT_LATENT_TOKENS = 16;

/** Largest JSON request body. Base64 inflates images by 4/3, so recognize batches need room. */
export const MAX_JSON_BODY_BYTES = 32 * 1024 * 1024;

/** Largest multipart training upload: all photos plus form overhead. */
export const MAX_TRAIN_BODY_BYTES = MAX_PHOTOS_PER_JOB * MAX_PHOTO_BYTES + 64 * 1024;

/** Largest concept artifact accepted from the node (rows of a 8192-wide model with k=64 are ~1.1 MB). */
export const MAX_ARTIFACT_BYTES = 4 * 1024 * 1024;

/** Generation options. */
export const MAX_OUTPUT_TOKENS = 4_096;
export const DEFAULT_OUTPUT_TOKENS = 256;
export const MAX_STOP_SEQUENCES = 4;

/** Page size for list endpoints. */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** HMAC: accepted clock skew between edge and node, and how long a nonce is remembered (>= the window). */
export const HMAC_MAX_SKEW_SECONDS = 300;
export const HMAC_NONCE_TTL_SECONDS = 2 * HMAC_MAX_SKEW_SECONDS;

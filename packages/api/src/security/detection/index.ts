export { createDetector, type Detector, type DetectionSink, type DetectorOptions } from './detector.ts';
export { DEFAULT_DETECTION_RULES, parseDetectionEnabled, parseDetectionRules, WATCH_SECONDS, type DetectionRule, type DetectionRuleName, type DetectionRules } from './rules.ts';
export { decodeInput, matchPayload, matchScanner } from './matchers.ts';

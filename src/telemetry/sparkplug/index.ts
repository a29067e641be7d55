export { SparkplugEdgeNode, sparkplugPathsFor, type EdgeNodeOptions } from './edge-node.js';
export { decode, encode, type Decoded, type Metric, type MetricType, type Payload } from './codec.js';
export { NAMESPACE, sparkplugTopics, type SparkplugTopics } from './topics.js';

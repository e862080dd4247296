package pipeline

// QueueCap is the capacity of every channel a stage makes.
const QueueCap = queueCap

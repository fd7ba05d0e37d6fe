export { brokerContract, type BrokerUnderTest } from './broker-contract.js';
export { memoryContract, type MemoryUnderTest } from './memory-contract.js';
export { plannerContract, type PlannerUnderTest, type PlannerContractOptions } from './planner-contract.js';
export { storeContract, sampleTask, type StoreUnderTest } from './store-contract.js';

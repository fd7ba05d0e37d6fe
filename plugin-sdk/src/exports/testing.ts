export { brokerContract, type BrokerUnderTest } from '../testing/broker-contract.js';
export { memoryContract, type MemoryUnderTest } from '../testing/memory-contract.js';
export { plannerContract, type PlannerUnderTest, type PlannerContractOptions } from '../testing/planner-contract.js';
export { storeContract, sampleTask, type StoreUnderTest } from '../testing/store-contract.js';
export {
  scheduleStoreContract,
  sampleSchedule,
  type ScheduleStoreUnderTest,
} from '../testing/schedule-store-contract.js';

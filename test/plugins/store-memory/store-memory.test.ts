import { scheduleStoreContract, storeContract } from '@opspawn/plugin-sdk/testing';
import { MemoryTaskStore } from '@opspawn/store-memory';

storeContract('store-memory', async () => ({ store: new MemoryTaskStore() }));

scheduleStoreContract('store-memory', async () => ({ schedules: new MemoryTaskStore().schedules }));

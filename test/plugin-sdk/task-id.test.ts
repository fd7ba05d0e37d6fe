import { expect } from 'chai';
import { isTaskId, newTaskId } from '@opspawn/plugin-sdk';

describe('task ids', () => {
  it('are distinct, valid and in the order they were made, within and across milliseconds', () => {
    // Ids for 300 milliseconds of the clock (more than one draw of the random bytes, 256 ms' worth), a few per ms.
    const ids: string[] = [];
    for (let ms = 0; ms < 300; ms++) {
      for (let i = 0; i < 3; i++) ids.push(newTaskId());
      for (const now = Date.now(); Date.now() === now; );
    }
    expect(ids.every(isTaskId)).to.equal(true);
    expect(new Set(ids).size).to.equal(ids.length);
    expect([...ids].sort()).to.deep.equal(ids);
    // Each millisecond draws its random part afresh: ids of different milliseconds share no random part.
    const randomParts = new Set(ids.map((id) => id.slice(15)));
    expect(randomParts.size).to.equal(ids.length);
    expect(new Set(ids.map((id) => id.slice(5, 15))).size).to.be.at.least(300);
  });
});

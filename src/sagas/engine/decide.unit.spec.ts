import { Type, type Static } from '@sinclair/typebox';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineMessage } from '../../messaging/index.ts';
import { decideSaga, type SagaInput } from './decide.ts';
import { on, type SagaDefinition, type SagaStep, type StepReply } from './definition.ts';
import { createSagaRegistry } from './registry.ts';
import { foldSaga } from './saga-state.ts';
import { createSagaHarness, eventTypes, sentTypes } from './testing/saga-harness.ts';

/*
 * The engine's pure core, Given (inputs already decided) / When (one input) / Then (its decision),
 * on a small travel-booking saga: book a flight, book a hotel, charge the card. Flight and hotel
 * have compensations; the card step retries on a retryable reply.
 */

interface Trip {
  tripId: string;
  flight: 'none' | 'booked';
  hotelNights: number;
  charged: boolean;
  /** Bookings seen while the saga was elsewhere. */
  seen: string[];
}

const TripMessage = Type.Object({ tripId: Type.String(), attempt: Type.Optional(Type.Integer()) });
type TripMessage = Static<typeof TripMessage>;
/** The messages the trip saga handles: all carry a TripMessage. */
const tripMessage = (type: string) =>
  defineMessage({ type, kind: 'event', schema: TripMessage, description: `the trip saga's ${type}` });
const TripRequested = tripMessage('trips.TripRequested');
const CancelTrip = tripMessage('trips.CancelTrip');
const FlightBooked = tripMessage('flights.FlightBooked');
const FlightUnavailable = tripMessage('flights.FlightUnavailable');
const FlightCancelled = tripMessage('flights.FlightCancelled');
const NightBooked = tripMessage('hotels.NightBooked');
const HotelFull = tripMessage('hotels.HotelFull');
const NightsCancelled = tripMessage('hotels.NightsCancelled');
const CancellationRefused = tripMessage('hotels.CancellationRefused');
const HotelConfirmedElsewhere = tripMessage('hotels.HotelConfirmedElsewhere');
const Insured = tripMessage('insurance.Insured');
const Charged = tripMessage('cards.Charged');
const Declined = tripMessage('cards.Declined');
const ChargeTimedOut = tripMessage('cards.ChargeTimedOut');

const T = 'trip-1';
const msg = (extra: Partial<TripMessage> = {}): TripMessage => ({ tripId: T, ...extra });

function tripSaga(version = 1, options: { insurance?: boolean } = {}): SagaDefinition<Trip> {
  const flight: SagaStep<Trip> = {
    name: 'book-flight',
    action: (trip, { attempt }) => [{ type: 'flights.BookFlight', data: { tripId: trip.tripId, attempt } }],
    replies: [
      on(FlightBooked, (): StepReply<Trip> => ({ outcome: 'completed', data: { flight: 'booked' } })),
      on(FlightUnavailable, (): StepReply<Trip> => ({
        outcome: 'failed',
        reason: 'no_flight',
        detail: 'no seat left',
        compensate: false,
      })),
    ],
    timeoutMs: 1000,
    maxAttempts: 2,
    compensation: {
      commands: (trip) => [{ type: 'flights.CancelFlight', data: { tripId: trip.tripId } }],
      replies: [on(FlightCancelled, () => ({ outcome: 'completed', data: { flight: 'none' } }))],
      late: [
        on(FlightBooked, (_reply, trip) => [{ type: 'flights.CancelFlight', data: { tripId: trip.tripId } }]),
      ],
      timeoutMs: 500,
      maxAttempts: 2,
    },
  };
  const hotel: SagaStep<Trip> = {
    name: 'book-hotel',
    action: (trip) => [
      { type: 'hotels.BookNight', data: { tripId: trip.tripId, night: 1 }, partitionKey: 'hotel-a' },
      { type: 'hotels.BookNight', data: { tripId: trip.tripId, night: 2 }, partitionKey: 'hotel-a' },
    ],
    replies: [
      on(NightBooked, (_reply, trip): StepReply<Trip> => {
        const hotelNights = trip.hotelNights + 1;
        return { outcome: hotelNights === 2 ? 'completed' : 'progressed', data: { hotelNights } };
      }),
      on(HotelFull, (): StepReply<Trip> => ({
        outcome: 'failed',
        reason: 'no_room',
        detail: 'hotel full',
      })),
    ],
    timeoutMs: 1000,
    isDone: (trip) => trip.seen.includes('hotel-confirmed-elsewhere'),
    compensation: {
      // Nothing to undo when no night was booked.
      commands: (trip) =>
        trip.hotelNights > 0 ? [{ type: 'hotels.CancelNights', data: { tripId: trip.tripId } }] : [],
      replies: [
        on(NightsCancelled, () => ({ outcome: 'completed', data: { hotelNights: 0 } })),
        on(CancellationRefused, () => ({
          outcome: 'refused',
          detail: 'the guests checked in',
          effects: { send: [{ type: 'trips.CancellationRefused', data: { tripId: T } }] },
        })),
      ],
      timeoutMs: 500,
      maxAttempts: 3,
    },
  };
  const insurance: SagaStep<Trip> = {
    name: 'insure',
    action: (trip) => [{ type: 'insurance.Insure', data: { tripId: trip.tripId } }],
    replies: [on(Insured, () => ({ outcome: 'completed' }))],
  };
  const card: SagaStep<Trip> = {
    name: 'charge-card',
    action: (trip, { attempt }) => [{ type: 'cards.Charge', data: { tripId: trip.tripId, attempt } }],
    replies: [
      on(Charged, (): StepReply<Trip> => ({ outcome: 'completed', data: { charged: true } })),
      on(Declined, (): StepReply<Trip> => ({
        outcome: 'failed',
        reason: 'declined',
        detail: 'card declined',
        compensate: false,
      })),
      on(ChargeTimedOut, (reply): StepReply<Trip> => ({
        outcome: 'retry',
        attempt: reply.attempt ?? 1,
      })),
    ],
    timeoutMs: 2000,
    maxAttempts: 3,
    timeoutDetail: (_trip, attempts) => `the card was not charged after ${attempts} attempts`,
  };
  return {
    name: 'trip',
    version,
    start: [
      on(TripRequested, (request) => ({
        sagaId: request.tripId,
        data: { tripId: request.tripId, flight: 'none', hotelNights: 0, charged: false, seen: [] },
      })),
    ],
    sagaIdOf: (_type, payload) => (payload as TripMessage).tripId,
    steps: options.insurance === true ? [flight, hotel, insurance, card] : [flight, hotel, card],
    on: [
      on(CancelTrip, (_request, _trip, { view }) =>
        view.status === 'running'
          ? { fail: { reason: 'customer_request', detail: 'the traveller cancelled' } }
          : { effects: { send: [{ type: 'trips.CancellationRefused', data: { tripId: T } }] } },
      ),
      on(HotelConfirmedElsewhere, (_reply, trip) => ({
        data: { seen: [...trip.seen, 'hotel-confirmed-elsewhere'] },
      })),
    ],
    onCompleted: (trip) => ({
      record: [
        {
          streamId: `trip-${trip.tripId}`,
          id: `${trip.tripId}:TripBooked`,
          type: 'TripBooked',
          messageType: 'trips.TripBooked',
          data: { tripId: trip.tripId },
        },
      ],
    }),
    onFailed: (trip, failure) => ({
      record: [
        {
          streamId: `trip-${trip.tripId}`,
          id: `${trip.tripId}:TripFailed`,
          type: 'TripFailed',
          messageType: 'trips.TripFailed',
          data: { tripId: trip.tripId, reason: failure.reason, detail: failure.detail },
        },
      ],
    }),
  };
}

function started(definition = tripSaga()) {
  const saga = createSagaHarness(definition);
  saga.receive('trips.TripRequested', msg());
  return saga;
}

/** Given a trip whose flight and hotel are booked: the card is being charged. */
function bookedUpToCard(definition = tripSaga()) {
  const saga = started(definition);
  saga.receive('flights.FlightBooked', msg());
  saga.receive('hotels.NightBooked', msg());
  saga.receive('hotels.NightBooked', msg());
  expect(saga.state?.step).toBe('charge-card');
  return saga;
}

describe('decideSaga: the forward flow', () => {
  it('starts with SagaStarted, sends the first action and arms its timer', () => {
    const saga = createSagaHarness(tripSaga());
    const decision = saga.receive('trips.TripRequested', msg());
    expect(decision.events).toEqual([
      {
        type: 'SagaStarted',
        data: {
          sagaId: T,
          definition: 'trip',
          version: 1,
          data: { tripId: T, flight: 'none', hotelNights: 0, charged: false, seen: [] },
          step: 'book-flight',
        },
      },
    ]);
    expect(decision.send).toEqual([{ type: 'flights.BookFlight', data: { tripId: T, attempt: 1 } }]);
    expect(decision.timers).toEqual([
      {
        delayMs: 1000,
        data: {
          sagaId: T,
          definition: 'trip',
          step: 'book-flight',
          attempt: 1,
          compensation: false,
          generation: 1,
        },
      },
    ]);
  });

  it('ignores messages that start nothing when there is no saga', () => {
    expect(
      decideSaga(tripSaga(), undefined, {
        kind: 'message',
        id: 'm',
        type: 'flights.FlightBooked',
        data: msg(),
      }),
    ).toMatchObject({ events: [], send: [], timers: [] });
  });

  it('fans out, counts the replies, then starts the next step', () => {
    const saga = started();
    const hotel = saga.receive('flights.FlightBooked', msg());
    expect(eventTypes(hotel)).toEqual(['StepCompleted']);
    expect(hotel.events[0]!.data).toEqual({
      step: 'book-flight',
      by: 'flights.FlightBooked',
      patch: { flight: 'booked' },
      next: 'book-hotel',
    });
    expect(hotel.send).toEqual([
      { type: 'hotels.BookNight', data: { tripId: T, night: 1 }, partitionKey: 'hotel-a' },
      { type: 'hotels.BookNight', data: { tripId: T, night: 2 }, partitionKey: 'hotel-a' },
    ]);
    const first = saga.receive('hotels.NightBooked', msg());
    expect(eventTypes(first)).toEqual(['StepProgressed']);
    expect(first.send).toEqual([]);
    expect(first.timers).toEqual([]);
    const second = saga.receive('hotels.NightBooked', msg());
    expect(eventTypes(second)).toEqual(['StepCompleted']);
    expect(sentTypes(second)).toEqual(['cards.Charge']);
  });

  it('completes after the last step, with the definition’s effects', () => {
    const saga = bookedUpToCard();
    const decision = saga.receive('cards.Charged', msg());
    expect(eventTypes(decision)).toEqual(['StepCompleted', 'SagaCompleted']);
    expect(decision.events[0]!.data).toMatchObject({ step: 'charge-card', next: null });
    expect(decision.record).toEqual([
      expect.objectContaining({ id: `${T}:TripBooked`, messageType: 'trips.TripBooked' }),
    ]);
    expect(decision.timers).toEqual([]);
    expect(saga.state).toMatchObject({
      status: 'completed',
      completed: ['book-flight', 'book-hotel', 'charge-card'],
    });
  });

  it('completes a step at once when it starts with nothing left to wait for (isDone)', () => {
    const saga = started();
    saga.receive('hotels.HotelConfirmedElsewhere', msg());
    const decision = saga.receive('flights.FlightBooked', msg());
    expect(eventTypes(decision)).toEqual(['StepCompleted', 'StepCompleted']);
    expect(decision.events[1]!.data).toMatchObject({ step: 'book-hotel', next: 'charge-card' });
    expect(sentTypes(decision)).toEqual(['cards.Charge']);
  });

  it('changes nothing on a duplicate reply', () => {
    const saga = started();
    saga.receive('flights.FlightBooked', msg());
    const duplicate = saga.receive('flights.FlightBooked', msg());
    expect(duplicate).toMatchObject({ events: [], send: [], record: [], timers: [] });
  });
});

describe('decideSaga: failure and compensation', () => {
  it('compensates the completed steps in reverse order, each awaiting its reply, then fails', () => {
    const saga = bookedUpToCard();
    const declined = saga.receive('cards.Declined', msg());
    expect(eventTypes(declined)).toEqual(['StepFailed']);
    expect(declined.events[0]!.data).toEqual({
      step: 'charge-card',
      by: 'cards.Declined',
      reason: 'declined',
      detail: 'card declined',
      compensations: ['book-hotel', 'book-flight'],
    });
    expect(sentTypes(declined)).toEqual(['hotels.CancelNights']);
    expect(declined.timers[0]!.data).toMatchObject({ step: 'book-hotel', compensation: true, attempt: 1 });

    const hotelUndone = saga.receive('hotels.NightsCancelled', msg());
    expect(eventTypes(hotelUndone)).toEqual(['CompensationCompleted']);
    expect(hotelUndone.events[0]!.data).toMatchObject({ step: 'book-hotel', next: 'book-flight' });
    expect(sentTypes(hotelUndone)).toEqual(['flights.CancelFlight']);

    const flightUndone = saga.receive('flights.FlightCancelled', msg());
    expect(eventTypes(flightUndone)).toEqual(['CompensationCompleted', 'SagaFailed']);
    expect(flightUndone.events[1]!.data).toEqual({ reason: 'declined', detail: 'card declined' });
    expect(flightUndone.record).toEqual([
      expect.objectContaining({
        type: 'TripFailed',
        data: { tripId: T, reason: 'declined', detail: 'card declined' },
      }),
    ]);
    expect(saga.state).toMatchObject({ status: 'failed', compensated: ['book-hotel', 'book-flight'] });
  });

  it('compensates the failed step too unless its reply says nothing was done', () => {
    const saga = started();
    saga.receive('flights.FlightBooked', msg());
    saga.receive('hotels.NightBooked', msg());
    const full = saga.receive('hotels.HotelFull', msg());
    expect(full.events[0]!.data).toMatchObject({ compensations: ['book-hotel', 'book-flight'] });
  });

  it('leaves out compensations with nothing to undo, and fails at once when none is left', () => {
    const saga = started();
    const unavailable = saga.receive('flights.FlightUnavailable', msg());
    expect(eventTypes(unavailable)).toEqual(['StepFailed', 'SagaFailed']);
    expect(unavailable.send).toEqual([]);
    expect(unavailable.record).toHaveLength(1);
  });

  it('fails the step in progress on a watched signal and compensates it', () => {
    const saga = started();
    saga.receive('flights.FlightBooked', msg());
    const cancel = saga.receive('trips.CancelTrip', msg());
    // The hotel step was in progress but booked no night yet: only the flight is undone.
    expect(cancel.events[0]!.data).toMatchObject({
      step: 'book-hotel',
      reason: 'customer_request',
      compensations: ['book-flight'],
    });
    expect(sentTypes(cancel)).toEqual(['flights.CancelFlight']);
  });

  it('resumes the forward flow when a compensation is refused before anything was undone', () => {
    const saga = bookedUpToCard();
    saga.receive('trips.CancelTrip', msg());
    const refused = saga.receive('hotels.CancellationRefused', msg());
    expect(eventTypes(refused)).toEqual(['CompensationRefused']);
    expect(refused.events[0]!.data).toMatchObject({ step: 'book-hotel', resumed: 'charge-card' });
    expect(sentTypes(refused)).toEqual(['trips.CancellationRefused']);
    // The step in progress is not sent again, but it gets a fresh deadline.
    expect(refused.timers).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({ step: 'charge-card', compensation: false }),
      }),
    ]);
    expect(saga.state).toMatchObject({ status: 'running', step: 'charge-card', failure: null });
    expect(eventTypes(saga.receive('cards.Charged', msg()))).toEqual(['StepCompleted', 'SagaCompleted']);
  });
});

describe('decideSaga: timeouts, retries and needs_attention', () => {
  it('re-sends the action on a timeout, then fails the step with reason timeout when attempts run out', () => {
    const saga = started();
    const retried = saga.fire();
    expect(eventTypes(retried)).toEqual(['StepRetried']);
    expect(retried.events[0]!.data).toEqual({ step: 'book-flight', attempt: 2, by: 'saga.SagaTimerFired' });
    expect(retried.send).toEqual([{ type: 'flights.BookFlight', data: { tripId: T, attempt: 2 } }]);
    expect(retried.timers[0]!.data).toMatchObject({ attempt: 2, generation: 2 });

    const failed = saga.fire();
    expect(eventTypes(failed)).toEqual(['StepFailed']);
    expect(failed.events[0]!.data).toMatchObject({
      reason: 'timeout',
      detail: 'book-flight: no answer after 2 attempts',
      // The flight may have been booked without an answer: it is cancelled.
      compensations: ['book-flight'],
    });
    expect(sentTypes(failed)).toEqual(['flights.CancelFlight']);
  });

  it('retries on a retryable reply for the attempt in progress, and ignores one for an older attempt', () => {
    const saga = bookedUpToCard();
    const retried = saga.receive('cards.ChargeTimedOut', msg({ attempt: 1 }));
    expect(retried.send).toEqual([{ type: 'cards.Charge', data: { tripId: T, attempt: 2 } }]);
    expect(saga.receive('cards.ChargeTimedOut', msg({ attempt: 1 }))).toMatchObject({ events: [], send: [] });
    saga.receive('cards.ChargeTimedOut', msg({ attempt: 2 }));
    const exhausted = saga.receive('cards.ChargeTimedOut', msg({ attempt: 3 }));
    expect(exhausted.events[0]).toMatchObject({
      type: 'StepFailed',
      data: { reason: 'timeout', detail: 'the card was not charged after 3 attempts' },
    });
  });

  it('ignores stale timers: of a step already done, and of an older attempt', () => {
    const saga = started();
    const firstTimer = saga.lastTimer;
    saga.fire(); // attempt 2
    expect(saga.fire(firstTimer)).toMatchObject({ events: [], send: [], timers: [] });
    const secondTimer = saga.lastTimer;
    saga.receive('flights.FlightBooked', msg());
    expect(saga.fire(secondTimer)).toMatchObject({ events: [], send: [], timers: [] });
    expect(saga.state).toMatchObject({ status: 'running', step: 'book-hotel', attempt: 1 });
  });

  it('ignores a timer armed before the saga moved, even when step and attempt look current again', () => {
    // After an operator retry the compensation is at attempt 1 again: its first timer is still stale.
    const parked = bookedUpToCard();
    parked.receive('cards.Declined', msg());
    const firstCompensationTimer = parked.lastTimer;
    parked.fire();
    parked.fire();
    parked.fire();
    parked.retry();
    expect(parked.state).toMatchObject({ status: 'compensating', compensationAttempt: 1 });
    expect(parked.fire(firstCompensationTimer)).toMatchObject({ events: [], send: [], timers: [] });

    // After a refused compensation the saga waits at the same step and attempt as before the failure.
    const resumed = bookedUpToCard();
    const cardTimer = resumed.lastTimer;
    resumed.receive('trips.CancelTrip', msg());
    resumed.receive('hotels.CancellationRefused', msg());
    expect(resumed.state).toMatchObject({ status: 'running', step: 'charge-card', attempt: 1 });
    expect(resumed.fire(cardTimer)).toMatchObject({ events: [], send: [], timers: [] });
    // The deadline armed on resuming is the one that counts.
    expect(eventTypes(resumed.fire())).toEqual(['StepRetried']);
  });

  it('re-sends the pending compensation on its timeouts, then parks the saga as needs_attention', () => {
    const saga = bookedUpToCard();
    saga.receive('cards.Declined', msg());
    const retried = saga.fire();
    expect(eventTypes(retried)).toEqual(['CompensationRetried']);
    expect(sentTypes(retried)).toEqual(['hotels.CancelNights']);
    saga.fire();
    const parked = saga.fire();
    expect(eventTypes(parked)).toEqual(['SagaNeedsAttention']);
    expect(parked.events[0]!.data).toEqual({
      step: 'book-hotel',
      attempts: 3,
      reason: 'no reply to the compensation of book-hotel after 3 attempts',
    });
    expect(parked.send).toEqual([]);
    expect(parked.timers).toEqual([]);
    expect(saga.state).toMatchObject({
      status: 'needs_attention',
      attention: { step: 'book-hotel', attempts: 3 },
    });
    // Nothing fires any more.
    expect(saga.fire()).toMatchObject({ events: [] });
  });

  it('retries a parked saga: re-sends the pending compensation with a fresh budget, then carries on', () => {
    const saga = bookedUpToCard();
    saga.receive('cards.Declined', msg());
    saga.fire();
    saga.fire();
    saga.fire();
    const retried = saga.retry();
    expect(eventTypes(retried)).toEqual(['SagaRetried']);
    expect(retried.events[0]!.data).toEqual({ step: 'book-hotel', by: 'operator' });
    expect(sentTypes(retried)).toEqual(['hotels.CancelNights']);
    expect(retried.timers[0]!.data).toMatchObject({ step: 'book-hotel', compensation: true, attempt: 1 });
    expect(saga.state).toMatchObject({ status: 'compensating', compensationAttempt: 1, attention: null });
    saga.receive('hotels.NightsCancelled', msg());
    expect(eventTypes(saga.receive('flights.FlightCancelled', msg()))).toEqual([
      'CompensationCompleted',
      'SagaFailed',
    ]);
  });

  it('does not retry a saga that is not parked', () => {
    const saga = bookedUpToCard();
    expect(saga.retry()).toMatchObject({ events: [], send: [], timers: [] });
  });

  it('lets a late compensation reply move a parked saga on', () => {
    const saga = bookedUpToCard();
    saga.receive('cards.Declined', msg());
    saga.fire();
    saga.fire();
    saga.fire();
    const late = saga.receive('hotels.NightsCancelled', msg());
    expect(eventTypes(late)).toEqual(['CompensationCompleted']);
    expect(saga.state).toMatchObject({
      status: 'compensating',
      compensations: ['book-flight'],
      attention: null,
    });
  });
});

describe('decideSaga: late replies', () => {
  it('undoes a reply that arrives after the saga failed (a booking after the decision to give up)', () => {
    const saga = started();
    saga.fire();
    saga.fire(); // the flight step timed out twice: failed, CancelFlight sent
    saga.receive('flights.FlightCancelled', msg());
    expect(saga.state?.status).toBe('failed');
    const late = saga.receive('flights.FlightBooked', msg());
    expect(late.events).toEqual([]);
    expect(late.send).toEqual([{ type: 'flights.CancelFlight', data: { tripId: T } }]);
  });

  it('does not undo a late reply whose compensation is still ahead (it will cover it)', () => {
    const saga = bookedUpToCard();
    saga.receive('cards.Declined', msg()); // compensating book-hotel; book-flight is next
    expect(saga.receive('flights.FlightBooked', msg())).toMatchObject({ events: [], send: [] });
  });

  it('answers a signal after the end with effects only', () => {
    const saga = bookedUpToCard();
    saga.receive('cards.Charged', msg());
    const cancel = saga.receive('trips.CancelTrip', msg());
    expect(cancel.events).toEqual([]);
    expect(sentTypes(cancel)).toEqual(['trips.CancellationRefused']);
  });
});

describe('saga versions', () => {
  it('finishes an in-flight saga on the version it started on while new sagas start on the current one', () => {
    // Version 1 is deployed; a trip starts on it and books its flight.
    const old = createSagaHarness(createSagaRegistry([tripSaga(1)]));
    old.receive('trips.TripRequested', msg());
    old.receive('flights.FlightBooked', msg());
    expect(old.history[0]).toMatchObject({ type: 'SagaStarted', data: { version: 1 } });

    // Version 2 adds an insurance step and becomes current; version 1 stays registered.
    const registry = createSagaRegistry([tripSaga(1), tripSaga(2, { insurance: true })]);
    expect(registry.current.version).toBe(2);

    // The in-flight trip, loaded from its stream, goes on with version 1: no insurance step.
    const inFlight = createSagaHarness(registry, old.history);
    inFlight.receive('hotels.NightBooked', msg());
    const hotelDone = inFlight.receive('hotels.NightBooked', msg());
    expect(sentTypes(hotelDone)).toEqual(['cards.Charge']);
    expect(eventTypes(inFlight.receive('cards.Charged', msg()))).toEqual(['StepCompleted', 'SagaCompleted']);
    expect(inFlight.state).toMatchObject({
      version: 1,
      status: 'completed',
      completed: ['book-flight', 'book-hotel', 'charge-card'],
    });

    // A new trip starts on version 2 and goes through the insurance step.
    const fresh = createSagaHarness(registry);
    const start = fresh.receive('trips.TripRequested', msg({ tripId: 'trip-2' }));
    expect(start.events[0]).toMatchObject({ type: 'SagaStarted', data: { version: 2 } });
    fresh.receive('flights.FlightBooked', msg({ tripId: 'trip-2' }));
    fresh.receive('hotels.NightBooked', msg({ tripId: 'trip-2' }));
    const insured = fresh.receive('hotels.NightBooked', msg({ tripId: 'trip-2' }));
    expect(sentTypes(insured)).toEqual(['insurance.Insure']);
  });

  it('refuses to decide a saga whose version is no longer registered', () => {
    const old = createSagaHarness(createSagaRegistry([tripSaga(1)]));
    old.receive('trips.TripRequested', msg());
    const onlyV2 = createSagaHarness(createSagaRegistry([tripSaga(2, { insurance: true })]), old.history);
    expect(() => onlyV2.receive('flights.FlightBooked', msg())).toThrow(
      /runs on version 1, which is not registered/,
    );
  });

  it('validates definitions when they are registered', () => {
    expect(() => createSagaRegistry([tripSaga(1), tripSaga(1)])).toThrow(/registered twice/);
    expect(() => createSagaRegistry([{ ...tripSaga(1), steps: [] }])).toThrow(/no steps/);
    expect(() => createSagaRegistry([{ ...tripSaga(1), name: 'Trip-Saga' }])).toThrow(/name must match/);
  });
});

describe('decideSaga: properties', () => {
  const inputs: fc.Arbitrary<SagaInput | 'fire' | 'fire-old' | 'retry'> = fc.oneof(
    fc
      .constantFrom(
        'flights.FlightBooked',
        'flights.FlightUnavailable',
        'flights.FlightCancelled',
        'hotels.NightBooked',
        'hotels.HotelFull',
        'hotels.NightsCancelled',
        'hotels.CancellationRefused',
        'cards.Charged',
        'cards.Declined',
        'trips.CancelTrip',
        'hotels.HotelConfirmedElsewhere',
      )
      .map((type): SagaInput => ({ kind: 'message', id: type, type, data: msg() })),
    fc.integer({ min: 1, max: 4 }).map((attempt): SagaInput => ({
      kind: 'message',
      id: `timeout-${attempt}`,
      type: 'cards.ChargeTimedOut',
      data: msg({ attempt }),
    })),
    fc.constantFrom('fire' as const, 'fire-old' as const, 'retry' as const),
  );

  it('keeps its invariants whatever arrives in whatever order', () => {
    fc.assert(
      fc.property(fc.array(inputs, { maxLength: 40 }), (sequence) => {
        const saga = started();
        for (const step of sequence) {
          const before = saga.state!;
          const historyBefore = saga.history.length;
          const decision =
            step === 'fire'
              ? saga.timers.length > 0
                ? saga.fire()
                : saga.retry()
              : step === 'fire-old'
                ? saga.fire(saga.timers[0])
                : step === 'retry'
                  ? saga.retry()
                  : saga.handle(step);
          // The decision's state is the fold of the stream.
          expect(decision.state).toEqual(foldSaga(saga.history));
          // An ended saga records nothing more.
          if (before.status === 'completed' || before.status === 'failed') {
            expect(saga.history.length).toBe(historyBefore);
          }
          // At most one timer, armed for the point the saga waits at now.
          expect(decision.timers.length).toBeLessThanOrEqual(1);
          for (const timer of decision.timers) expect(timer.data.generation).toBe(decision.state!.generation);
          // Waiting somewhere new means a new generation.
          if (decision.state!.step !== before.step || decision.state!.status !== before.status) {
            expect(decision.state!.generation).toBeGreaterThan(before.generation);
          }
          // Compensations only for steps that started, each at most once.
          const state = decision.state!;
          expect(new Set(state.compensated).size).toBe(state.compensated.length);
          for (const name of [...state.compensated, ...state.compensations]) {
            expect([...state.completed, state.step, state.failure?.step]).toContain(name);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

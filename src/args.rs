//! The demo's own flags of `server` and `play`: its bots and its arena.

use skirmish_server::MatchSettings;
use skirmish_server::bots::BotSkill;
use skirmish_shared::arena::{Arena, MAX_ARENA_TILES};

/// The demo's flags of `skirmish server`.
#[derive(clap::Args, Debug, Clone)]
pub struct MatchArgs {
    /// Server-side bots.
    #[arg(long, env = "SKIRMISH_BOTS", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub bots: u16,
    /// How well the server-side bots play.
    #[arg(long, env = "SKIRMISH_BOT_SKILL", value_enum, default_value_t = BotSkillArg::Normal)]
    pub bot_skill: BotSkillArg,
    /// Arena side in 2000-unit tiles, 1-8; larger arenas send each player only what is near it.
    #[arg(long, env = "SKIRMISH_ARENA", value_name = "TILES", default_value_t = 1, value_parser = arena_tiles())]
    pub arena: u8,
}

impl MatchArgs {
    /// The match these flags describe.
    pub fn settings(&self) -> MatchSettings {
        MatchSettings {
            bots: usize::from(self.bots),
            bot_skill: self.bot_skill.into(),
            arena: Arena::new(self.arena),
        }
    }
}

/// The demo's flags of `skirmish play` (and the menu's "Host a game": their defaults).
#[derive(clap::Args, Debug, Clone)]
pub struct HostArgs {
    /// Server-side bots to play against.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(0..=64))]
    bots: u16,
    /// How well the bots play.
    #[arg(long, value_enum, default_value_t = BotSkillArg::Easy)]
    bot_skill: BotSkillArg,
    /// Arena side in 2000-unit tiles, 1-8; larger arenas send each player only what is near it.
    #[arg(long, value_name = "TILES", default_value_t = 1, value_parser = arena_tiles())]
    arena: u8,
}

impl From<HostArgs> for MatchArgs {
    fn from(args: HostArgs) -> Self {
        Self {
            bots: args.bots,
            bot_skill: args.bot_skill,
            arena: args.arena,
        }
    }
}

/// `--arena`: a side of 1 to [`MAX_ARENA_TILES`] tiles.
fn arena_tiles() -> clap::builder::RangedI64ValueParser<u8> {
    clap::value_parser!(u8).range(1..=i64::from(MAX_ARENA_TILES))
}

/// How well the server's bots play.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotSkillArg {
    /// Short sight, slow to react, wide of the mark, firing in bursts: for learning the controls.
    Easy,
    /// A fair fight.
    Normal,
    /// Long sight, quick and precise.
    Hard,
}

impl From<BotSkillArg> for BotSkill {
    fn from(skill: BotSkillArg) -> Self {
        match skill {
            BotSkillArg::Easy => Self::Easy,
            BotSkillArg::Normal => Self::Normal,
            BotSkillArg::Hard => Self::Hard,
        }
    }
}
